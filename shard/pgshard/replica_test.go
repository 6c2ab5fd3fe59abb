package pgshard_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/pgshard"
	"github.com/scalekit-go/scalekit/shard/shardhttp"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func visible(t *testing.T, p *pgxpool.Pool, id int) bool {
	var n int
	if err := p.QueryRow(context.Background(), `SELECT count(*) FROM items WHERE id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func insert(id int) func(pgx.Tx) error {
	return func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO items (id) VALUES ($1)`, id)
		return err
	}
}

func TestReadYourWritesOnStreamingReplica(t *testing.T) {
	ctx := context.Background()
	primarySrv, standbySrv := testenv.NewPostgresReplica(t)
	primary, standby := newPool(t, primarySrv.URL), newPool(t, standbySrv.URL)
	if _, err := primary.Exec(ctx, `CREATE TABLE items (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "table on standby", func() bool {
		var ok bool
		_ = standby.QueryRow(ctx, `SELECT to_regclass('items') IS NOT NULL`).Scan(&ok)
		return ok
	})
	rs, err := pgshard.NewReplicaSet("db0", primary, []*pgxpool.Pool{standby}, &pgshard.ReplicaOptions{MaxWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	// Streaming: every read after a write sees the write, and goes to the
	// replica once it has replayed (within MaxWait).
	var tok shard.Token
	onReplica := 0
	for id := 1; id <= 30; id++ {
		tok, err = rs.Write(ctx, tok, insert(id))
		if err != nil {
			t.Fatal(err)
		}
		p, route, err := rs.ReadPool(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if !visible(t, p, id) {
			t.Fatalf("write %d not visible on %+v: read-your-writes broken", id, route)
		}
		if route.Replica == 0 {
			onReplica++
		}
	}
	if onReplica == 0 {
		t.Fatal("no read went to the streaming replica")
	}

	// Pause replay: the token's position is never reached, so reads fall
	// back to the primary after MaxWait and still see the write.
	if _, err := standby.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replay paused", func() bool {
		var st string
		_ = standby.QueryRow(ctx, `SELECT pg_get_wal_replay_pause_state()`).Scan(&st)
		return st == "paused"
	})
	fast, _ := pgshard.NewReplicaSet("db0", primary, []*pgxpool.Pool{standby}, &pgshard.ReplicaOptions{MaxWait: 100 * time.Millisecond})
	tok, err = fast.Write(ctx, tok, insert(1000))
	if err != nil {
		t.Fatal(err)
	}
	p, route, err := fast.ReadPool(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if route.Replica != -1 || route.Reason != "behind" || !visible(t, p, 1000) {
		t.Fatalf("paused replica: route %+v", route)
	}
	if visible(t, standby, 1000) {
		t.Fatal("standby replayed while paused; the test proves nothing")
	}
	// A read without a token may still use the (stale) replica.
	if _, route, _ := fast.ReadPool(ctx, shard.Token{}); route.Replica != 0 {
		t.Fatalf("tokenless read: %+v", route)
	}

	// The token crosses processes through HTTP: node B, another
	// ReplicaSet, honours the token node A issued.
	nodeA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, _ := shardhttp.FromRequest(r)
		out, err := fast.Write(r.Context(), in, insert(2000))
		if err != nil {
			http.Error(w, "write failed", 500)
			return
		}
		shardhttp.SetHeader(w.Header(), out)
	}))
	defer nodeA.Close()
	nodeBSet, _ := pgshard.NewReplicaSet("db0", primary, []*pgxpool.Pool{standby}, &pgshard.ReplicaOptions{MaxWait: 50 * time.Millisecond})
	nodeB := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := shardhttp.FromRequest(r)
		if err != nil {
			http.Error(w, "bad token", 400)
			return
		}
		p, _, err := nodeBSet.ReadPool(r.Context(), in)
		if err != nil || !visible(t, p, 2000) {
			http.Error(w, "own write not visible", http.StatusConflict)
			return
		}
	}))
	defer nodeB.Close()
	resp, err := http.Post(nodeA.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	carried, err := shardhttp.FromResponse(resp)
	if err != nil || carried.IsZero() {
		t.Fatalf("no token from node A: %v", err)
	}
	req, _ := http.NewRequest("GET", nodeB.URL, nil)
	shardhttp.SetHeader(req.Header, carried)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("node B: %s", resp.Status)
	}

	// Lag bound: with a fake clock, a paused replica that stays behind for
	// longer than MaxLag gets no reads at all, even tokenless ones.
	fk := clock.NewFake(time.Unix(1000, 0))
	lagged, _ := pgshard.NewReplicaSet("db0", primary, []*pgxpool.Pool{standby}, &pgshard.ReplicaOptions{MaxLag: 5 * time.Second, Clock: fk})
	if err := lagged.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	fk.Advance(10 * time.Second)
	if err := lagged.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if lag, ok := lagged.Lag(0); !ok || lag < 10*time.Second {
		t.Fatalf("lag %v %v, want ≥10s", lag, ok)
	}
	if _, route, _ := lagged.ReadPool(ctx, shard.Token{}); route.Replica != -1 || route.Reason != "lagging" {
		t.Fatalf("lagging replica still read: %+v", route)
	}

	// Resume: the replica catches up and serves token reads again.
	if _, err := standby.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica catches up", func() bool {
		_, route, err := fast.ReadPool(ctx, tok)
		return err == nil && route.Replica == 0
	})
	fk.Advance(time.Second)
	waitFor(t, "lag back to zero", func() bool {
		_ = lagged.Refresh(ctx)
		lag, _ := lagged.Lag(0)
		return lag == 0
	})
	if _, route, _ := lagged.ReadPool(ctx, shard.Token{}); route.Replica != 0 {
		t.Fatalf("caught-up replica not used: %+v", route)
	}
}

func TestReplicaSetValidation(t *testing.T) {
	if _, err := pgshard.NewReplicaSet("db0", nil, nil, nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	p := newPool(t, testenv.PostgresURL(t))
	if _, err := pgshard.NewReplicaSet("bad name", p, nil, nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	if _, err := pgshard.NewReplicaSet("db0", p, []*pgxpool.Pool{nil}, nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	rs, _ := pgshard.NewReplicaSet("db0", p, nil, nil)
	if got, route, _ := rs.ReadPool(context.Background(), shard.Token{}.With("db0", 1)); got != p || route.Reason != "no-replica" {
		t.Fatal(route)
	}
	// A primary that is not a standby used as a replica is reported down.
	rs2, _ := pgshard.NewReplicaSet("db0", p, []*pgxpool.Pool{p}, &pgshard.ReplicaOptions{MaxWait: 20 * time.Millisecond})
	if _, route, _ := rs2.ReadPool(context.Background(), shard.Token{}.With("db0", 1)); route.Replica != -1 {
		t.Fatal(route)
	}
}
