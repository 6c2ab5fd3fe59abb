package shardtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/driver"
)

// Harness is one fresh, empty backend. NewStore may be called several
// times: each call returns a separate client (a separate connection pool or
// process-local handle) on the same backend, to check that several router
// instances converge.
type Harness struct {
	NewStore     func(t *testing.T) driver.MapStore
	NewDirectory func(t *testing.T) driver.Directory
	// Wait bounds convergence checks; 0 means 10s.
	Wait time.Duration
}

// Run runs the suite.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"MapLoadEmpty", testMapLoadEmpty},
		{"MapCompareAndSwap", testMapCAS},
		{"MapConcurrentPublishOneWins", testMapConcurrentPublish},
		{"MapRoutersConverge", testRoutersConverge},
		{"MapWatchStop", testWatchStop},
		{"DirectoryPutGet", testDirPutGet},
		{"DirectoryCompareAndSwap", testDirCAS},
		{"DirectoryDelete", testDirDelete},
		{"DirectoryConcurrentCreateOneWins", testDirConcurrentCreate},
		{"DirectoryNamesIsolated", testDirNames},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarness(t)) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testMapLoadEmpty(t *testing.T, h Harness) {
	s := h.NewStore(t)
	tb, err := s.Load(ctxT(t), "nothing")
	if err != nil || tb.Version != 0 || len(tb.Nodes) != 0 {
		t.Fatalf("Load of an absent map = %+v, %v; want version 0, no nodes, no error", tb, err)
	}
}

func testMapCAS(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.NewStore(t)
	if err := s.CompareAndSwap(ctx, "m", 0, driver.Table{Version: 1, Nodes: []string{"a", "b"}}); err != nil {
		t.Fatalf("first CAS from 0: %v", err)
	}
	if err := s.CompareAndSwap(ctx, "m", 0, driver.Table{Version: 1, Nodes: []string{"x"}}); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("second CAS from 0 = %v; want driver.ErrConflict", err)
	}
	if err := s.CompareAndSwap(ctx, "m", 1, driver.Table{Version: 2, Nodes: []string{"a", "c"}}); err != nil {
		t.Fatalf("CAS 1→2: %v", err)
	}
	tb, err := s.Load(ctx, "m")
	if err != nil || tb.Version != 2 || fmt.Sprint(tb.Nodes) != "[a c]" {
		t.Fatalf("Load = %+v, %v; want version 2 [a c]", tb, err)
	}
	if tb, _ := s.Load(ctx, "other"); tb.Version != 0 {
		t.Fatalf("maps are not isolated by name: %+v", tb)
	}
}

func testMapConcurrentPublish(t *testing.T, h Harness) {
	ctx := ctxT(t)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		s := h.NewStore(t)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := s.CompareAndSwap(ctx, "race", 0, driver.Table{Version: 1, Nodes: []string{fmt.Sprint(i)}})
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, driver.ErrConflict):
				t.Errorf("loser %d: %v, want driver.ErrConflict", i, err)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d publishers won the same version; want exactly 1", wins.Load())
	}
}

func testRoutersConverge(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	wait := h.Wait
	if wait == 0 {
		wait = 10 * time.Second
	}
	var routers []*shard.Router
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		r, err := shard.NewRouter(h.NewStore(t), "conv", &shard.RouterOptions{PollInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		routers = append(routers, r)
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	defer wg.Wait()
	defer cancel()
	pub, _ := shard.NewRouter(h.NewStore(t), "conv", nil)
	m, _ := shard.Spread(16, []string{"a", "b"})
	// The routers may not have subscribed yet: publish, then wait for all
	// to see it via notifications (poll interval is an hour).
	deadline := time.Now().Add(wait)
	for v := 1; v <= 5; v++ {
		if err := pub.Publish(ctx, m); err != nil {
			t.Fatalf("publish v%d: %v", v, err)
		}
		for _, r := range routers {
			for r.Version() < m.Version() {
				if time.Now().After(deadline) {
					t.Fatalf("router stuck at v%d, published v%d (notification lost?)", r.Version(), m.Version())
				}
				time.Sleep(5 * time.Millisecond) // poll for the condition with a deadline
			}
		}
		next, err := m.Rebalance([]string{"a", "b", fmt.Sprint("n", v)})
		if err != nil {
			t.Fatal(err)
		}
		m = next
	}
	for _, r := range routers {
		if r.Map().Table()[0] != routers[0].Map().Table()[0] {
			t.Fatal("routers at the same version disagree")
		}
	}
}

func testWatchStop(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.NewStore(t)
	ch, stop, err := s.Watch(ctx, "w")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	stop()
	stop() // idempotent
	_ = ch
}

func newDir(t *testing.T, h Harness, name string) *shard.Directory {
	d, err := shard.NewDirectory(h.NewDirectory(t), name, &shard.DirectoryOptions{CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testDirPutGet(t *testing.T, h Harness) {
	ctx, d := ctxT(t), newDir(t, h, "dir")
	if _, _, err := d.Lookup(ctx, "acct:1"); !errors.Is(err, shard.ErrNotFound) {
		t.Fatalf("Lookup of absent key = %v; want ErrNotFound", err)
	}
	v, err := d.Assign(ctx, "acct:1", "db3", 0)
	if err != nil || v != 1 {
		t.Fatalf("Assign new = %d, %v; want 1, nil", v, err)
	}
	n, v2, err := d.Lookup(ctx, "acct:1")
	if err != nil || n != "db3" || v2 != 1 {
		t.Fatalf("Lookup = %s v%d %v; want db3 v1", n, v2, err)
	}
}

func testDirCAS(t *testing.T, h Harness) {
	ctx, d := ctxT(t), newDir(t, h, "dir")
	_, _ = d.Assign(ctx, "k", "a", 0)
	if _, err := d.Assign(ctx, "k", "b", 0); !errors.Is(err, shard.ErrConflict) {
		t.Fatalf("create over existing = %v; want ErrConflict", err)
	}
	v, err := d.Assign(ctx, "k", "b", 1)
	if err != nil || v != 2 {
		t.Fatalf("move v1→v2 = %d, %v", v, err)
	}
	if _, err := d.Assign(ctx, "k", "c", 1); !errors.Is(err, shard.ErrConflict) {
		t.Fatalf("stale move = %v; want ErrConflict", err)
	}
	if v, err := d.Assign(ctx, "k", "c", -1); err != nil || v != 3 {
		t.Fatalf("unconditional = %d, %v; want 3", v, err)
	}
}

func testDirDelete(t *testing.T, h Harness) {
	ctx, d := ctxT(t), newDir(t, h, "dir")
	_, _ = d.Assign(ctx, "k", "a", 0)
	if err := d.Remove(ctx, "k", 5); !errors.Is(err, shard.ErrConflict) {
		t.Fatalf("delete with wrong version = %v; want ErrConflict", err)
	}
	if err := d.Remove(ctx, "k", 1); err != nil {
		t.Fatalf("delete v1: %v", err)
	}
	if _, _, err := d.Lookup(ctx, "k"); !errors.Is(err, shard.ErrNotFound) {
		t.Fatalf("after delete = %v", err)
	}
	if err := d.Remove(ctx, "k", -1); err != nil {
		t.Fatalf("unconditional delete of absent key: %v", err)
	}
}

func testDirConcurrentCreate(t *testing.T, h Harness) {
	ctx := ctxT(t)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		d := newDir(t, h, "dir")
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := d.Assign(ctx, "new", fmt.Sprint("n", i), 0)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, shard.ErrConflict):
				t.Errorf("create %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d creators won; want 1", wins.Load())
	}
}

func testDirNames(t *testing.T, h Harness) {
	ctx := ctxT(t)
	a, b := newDir(t, h, "one"), newDir(t, h, "two")
	_, _ = a.Assign(ctx, "k", "x", 0)
	if _, _, err := b.Lookup(ctx, "k"); !errors.Is(err, shard.ErrNotFound) {
		t.Fatalf("directories not isolated by name: %v", err)
	}
}
