package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/saga"
	sagadriver "github.com/scalekit-go/scalekit/saga/driver"
	"github.com/scalekit-go/scalekit/shard"
)

// statsFault fails the delete saga's stats step for chosen codes and
// records what every node answered for the link while the step ran.
type statsFault struct {
	mu       sync.Mutex
	failFor  map[string]int // code → attempts to fail (-1: all)
	attempts map[string][]int
	during   map[string][]int // statuses of GET /{code} on each node, seen inside the step
	probe    func(code string) []int
}

func (f *statsFault) fail(code string, attempt int) error {
	f.mu.Lock()
	n, ok := f.failFor[code]
	f.attempts[code] = append(f.attempts[code], attempt)
	probe := f.probe
	f.mu.Unlock()
	if !ok {
		return nil
	}
	if probe != nil && attempt == 1 {
		st := probe(code)
		f.mu.Lock()
		f.during[code] = st
		f.mu.Unlock()
	}
	if n < 0 || attempt <= n {
		return fmt.Errorf("injected stats failure (attempt %d)", attempt)
	}
	return nil
}

// redirectStatuses is GET /{code} on every node directly.
func redirectStatuses(c *cluster, code string) []int {
	var out []int
	for i := range c.nodes {
		res, err := client.Get(nodeURL(c, i) + "/" + code)
		if err != nil {
			out = append(out, -1)
			continue
		}
		res.Body.Close()
		out = append(out, res.StatusCode)
	}
	return out
}

func allStatus(sts []int, want int) bool {
	for _, s := range sts {
		if s != want {
			return false
		}
	}
	return len(sts) > 0
}

// TestDeleteSaga deletes links whose stats deletion fails: a transient
// failure is retried (the saga log shows the failed attempts) and the
// delete succeeds; a persistent one compensates — the link, already gone
// from every node while the stats step ran, redirects again on every node
// and keeps its stats, and DELETE answers 503.
func TestDeleteSaga(t *testing.T) {
	for _, m := range modes[1:] { // three nodes: memory; Redis+PostgreSQL
		t.Run(m.name, func(t *testing.T) {
			f := &statsFault{failFor: map[string]int{}, attempts: map[string][]int{}, during: map[string][]int{}}
			c := start(t, m, func(cfg *config) { cfg.FailStatsDelete = f.fail })
			f.mu.Lock()
			f.probe = func(code string) []int { return redirectStatuses(c, code) }
			f.mu.Unlock()
			base := c.URL()
			key := []string{"X-API-Key", testKey}

			t.Run("TransientStatsFailureRetried", func(t *testing.T) {
				v := createLink(t, base, map[string]any{"url": "https://example.com/retry"})
				f.mu.Lock()
				f.failFor[v.Code] = 2
				f.mu.Unlock()
				// Straight to a node: the proxy would retry a 503 elsewhere.
				wantStatus(t, do(t, "DELETE", nodeURL(c, 1)+"/api/v1/links/"+v.Code, nil, key...), http.StatusNoContent)
				f.mu.Lock()
				got := f.attempts[v.Code]
				f.mu.Unlock()
				if fmt.Sprint(got) != "[1 2 3]" {
					t.Fatalf("stats step attempts %v, want [1 2 3]", got)
				}
				recs := sagasFor(t, c, v.Code)
				if len(recs) != 1 || recs[0].State != saga.Completed || recs[0].Steps[1].Attempts != 2 {
					t.Fatalf("saga log %+v, want one completed saga with 2 failed stats attempts", recs)
				}
				if sts := redirectStatuses(c, v.Code); !allStatus(sts, http.StatusNotFound) {
					t.Fatalf("after delete: %v, want 404 everywhere", sts)
				}
			})

			t.Run("PersistentStatsFailureCompensates", func(t *testing.T) {
				v := createLink(t, base, map[string]any{"url": "https://example.com/keep"})
				// Warm every node's cache and count one click.
				if sts := redirectStatuses(c, v.Code); !allStatus(sts, http.StatusFound) {
					t.Fatalf("before delete: %v", sts)
				}
				eventually(t, 10*time.Second, "clicks counted", func() bool {
					return statsOf(t, base, v.Code).Bots == int64(len(c.nodes)) // Go's client is a bot
				})
				f.mu.Lock()
				f.failFor[v.Code] = -1
				f.mu.Unlock()
				r := do(t, "DELETE", nodeURL(c, 1)+"/api/v1/links/"+v.Code, nil, key...)
				wantStatus(t, r, http.StatusServiceUnavailable)
				f.mu.Lock()
				during, attempts := f.during[v.Code], f.attempts[v.Code]
				f.mu.Unlock()
				if !allStatus(during, http.StatusNotFound) {
					t.Fatalf("while the stats step ran: %v, want 404 on every node (unlink first)", during)
				}
				if len(attempts) != 3 {
					t.Fatalf("stats attempts %v, want 3", attempts)
				}
				recs := sagasFor(t, c, v.Code)
				if len(recs) != 1 || recs[0].State != saga.Compensated {
					t.Fatalf("saga log %+v, want one compensated saga", recs)
				}
				// Restored: every node redirects again (negative cache
				// entries were invalidated) and the stats are intact.
				if sts := redirectStatuses(c, v.Code); !allStatus(sts, http.StatusFound) {
					t.Fatalf("after compensation: %v, want 302 everywhere", sts)
				}
				if s := statsOf(t, base, v.Code); s.Bots < int64(len(c.nodes)) {
					t.Fatalf("stats after compensation: %+v", s)
				}
				// A second delete that succeeds is a new saga.
				f.mu.Lock()
				delete(f.failFor, v.Code)
				f.mu.Unlock()
				wantStatus(t, do(t, "DELETE", base+"/api/v1/links/"+v.Code, nil, key...), http.StatusNoContent)
				if s := statsOf404(t, base, v.Code); s != http.StatusNotFound {
					t.Fatalf("stats after delete: %d", s)
				}
			})

			t.Run("ChangedLinkNotDeleted", func(t *testing.T) {
				v := createLink(t, base, map[string]any{"url": "https://example.com/changed"})
				l, err := c.be.store.Get(context.Background(), v.Code)
				if err != nil {
					t.Fatal(err)
				}
				l.URL = "https://example.com/edited"
				if _, err := c.be.store.Update(context.Background(), l); err != nil {
					t.Fatal(err)
				}
				stale := l // version before the edit
				err = c.nodes[0].del.Delete(context.Background(), stale)
				if !errors.Is(err, errChanged) {
					t.Fatalf("delete of a stale version: %v, want errChanged", err)
				}
				if _, err := c.be.store.Get(context.Background(), v.Code); err != nil {
					t.Fatalf("edited link after a stale delete: %v", err)
				}
			})
		})
	}
}

func statsOf404(t *testing.T, base, code string) int {
	t.Helper()
	return do(t, "GET", base+"/api/v1/links/"+code+"/stats", nil).StatusCode
}

// sagasFor lists the delete sagas of code in the shared saga log.
func sagasFor(t *testing.T, c *cluster, code string) []saga.Status {
	t.Helper()
	var out []saga.Status
	prefix := "delete-link/" + code + "/"
	recs, err := c.be.sagaLog.List(context.Background(), sagadriver.Filter{After: prefix, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.HasPrefix(r.ID, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// testShardMap checks routing through the two-level map: every link lives
// in the physical store its logical shard points at and nowhere else; the
// map's version is on /debug/scalekit; a new map version published by
// another router reaches every node, and new links follow it.
func testShardMap(t *testing.T, c *cluster) {
	ctx := context.Background()
	sh := c.be.shards
	var codes []string
	for i := range 24 {
		codes = append(codes, createLink(t, c.URL(), map[string]any{"url": fmt.Sprintf("https://example.com/s%d", i)}).Code)
	}
	used := map[string]int{}
	for _, code := range codes {
		_, node, err := sh.ShardOf(code)
		if err != nil {
			t.Fatal(err)
		}
		used[node]++
		for _, other := range sh.nodes() {
			st, _ := sh.storeOf(ctx, other)
			_, err := st.Get(ctx, code)
			if (other == node) != (err == nil) {
				t.Fatalf("code %s routed to %s, found in %s: %v", code, node, other, err)
			}
		}
	}
	if len(used) < 2 {
		t.Fatalf("24 links all on %v", used)
	}
	var d debugState
	do(t, "GET", c.URL()+"/debug/scalekit?format=json", nil).json(t, &d)
	v0, _ := d.Shards["version"].(float64)
	if v0 < 1 || d.Shards["logical"] != float64(64) {
		t.Fatalf("debug shards %v", d.Shards)
	}
	// Another process re-points logical shard 0 at a new, empty store.
	r, err := shard.NewRouter(sh.mapStore, linkMapName, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	next, err := r.Map().Repoint(map[int]string{0: "links-extra"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(ctx, next); err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		eventually(t, 10*time.Second, "node sees the new map version", func() bool {
			var d debugState
			do(t, "GET", nodeURL(c, i)+"/debug/scalekit?format=json", nil).json(t, &d)
			v, _ := d.Shards["version"].(float64)
			return v == v0+1
		})
	}
	// A new link of logical shard 0 lands in the new store.
	for i := 0; ; i++ {
		alias := fmt.Sprintf("moved-%d-%d", time.Now().UnixNano(), i)
		if sh.router.Map().LogicalOf(alias) != 0 {
			continue
		}
		createLink(t, c.URL(), map[string]any{"url": "https://example.com/moved", "alias": alias})
		st, err := sh.storeOf(ctx, "links-extra")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, alias); err != nil {
			t.Fatalf("link of logical shard 0 not in links-extra: %v", err)
		}
		wantStatus(t, do(t, "GET", c.URL()+"/"+alias, nil), http.StatusFound)
		break
	}
}
