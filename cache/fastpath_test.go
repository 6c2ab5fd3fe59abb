package cache_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/clock"
)

// wrappedLocal hides the concrete *memorycache.Store, so the Cache takes
// its generic driver.Local path instead of the memorycache fast path.
type wrappedLocal struct {
	driver.Local[string, cache.Entry[int]]
}

// Get on a local cache gives the same answers on the memorycache fast path
// and on the generic driver.Local path: entries without TTL never go stale,
// an entry past its freshness is a miss even while the store still keeps it
// for the stale window, and a cached negative entry is a miss.
func TestLocalGetPaths(t *testing.T) {
	for _, name := range []string{"memorycache", "driver.Local"} {
		t.Run(name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			s, err := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 100, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			var store driver.Local[string, cache.Entry[int]] = s
			if name != "memorycache" {
				store = wrappedLocal{s}
			}
			c, err := cache.NewLocal(store, &cache.Options[string, int]{
				Clock: clk, StaleIfError: time.Hour, NegativeTTL: time.Minute,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close(ctx) })

			if err := c.SetTTL(ctx, "forever", 1, 0); err != nil {
				t.Fatal(err)
			}
			if err := c.SetTTL(ctx, "minute", 2, time.Minute); err != nil {
				t.Fatal(err)
			}
			_, err = c.GetOrLoad(ctx, "gone", func(context.Context, string) (int, error) { return 0, cache.ErrNotFound })
			if !errors.Is(err, cache.ErrNotFound) {
				t.Fatalf("loader ErrNotFound: %v", err)
			}
			get := func(k string, wantV int, wantOK bool) {
				t.Helper()
				v, ok, err := c.Get(ctx, k)
				if err != nil || ok != wantOK || v != wantV {
					t.Fatalf("Get(%q) = %d, %v, %v; want %d, %v", k, v, ok, err, wantV, wantOK)
				}
			}
			get("forever", 1, true)
			get("minute", 2, true)
			get("gone", 0, false)
			get("absent", 0, false)
			clk.Advance(time.Minute - 1)
			get("minute", 2, true)
			clk.Advance(1)
			get("minute", 0, false) // stale: kept for StaleIfError, not served by Get
			if _, ok := s.Get("minute"); !ok {
				t.Fatal("store dropped the entry inside its stale window")
			}
			clk.Advance(24 * time.Hour)
			get("forever", 1, true)
			if st := c.Stats(); st.Hits != 4 || st.Misses != 4 {
				t.Fatalf("stats = %+v, want 4 hits, 4 misses (3 Get, 1 GetOrLoad)", st)
			}
		})
	}
}

// countingClock counts Now calls.
type countingClock struct {
	*clock.Fake
	reads atomic.Int64
}

func (c *countingClock) Now() time.Time { c.reads.Add(1); return c.Fake.Now() }

// A hit on a local memorycache that shares the cache's clock reads the
// clock once for an entry with a TTL (the store's expiry check and the
// cache's freshness check share the reading) and not at all without one,
// through Get and GetOrLoad alike.
func TestLocalHitReadsClockOnce(t *testing.T) {
	clk := &countingClock{Fake: clock.NewFake(t0)}
	s, err := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 100, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.NewLocal(s, &cache.Options[string, int]{Clock: clk, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Set(ctx, "ttl", 1); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTTL(ctx, "forever", 2, 0); err != nil {
		t.Fatal(err)
	}
	load := func(context.Context, string) (int, error) { return 0, errors.New("loader called on a hit") }
	for _, tc := range []struct {
		key  string
		want int64
	}{{"ttl", 1}, {"forever", 0}} {
		before := clk.reads.Load()
		if _, ok, _ := c.Get(ctx, tc.key); !ok {
			t.Fatalf("Get(%s) missed", tc.key)
		}
		if got := clk.reads.Load() - before; got != tc.want {
			t.Errorf("Get(%s) read the clock %d times, want %d", tc.key, got, tc.want)
		}
		before = clk.reads.Load()
		if _, err := c.GetOrLoad(ctx, tc.key, load); err != nil {
			t.Fatalf("GetOrLoad(%s): %v", tc.key, err)
		}
		if got := clk.reads.Load() - before; got != tc.want {
			t.Errorf("GetOrLoad(%s) read the clock %d times, want %d", tc.key, got, tc.want)
		}
	}
	clk.Advance(time.Minute)
	if _, ok, _ := c.Get(ctx, "ttl"); ok {
		t.Fatal("stale entry served")
	}
}
