package cache_test

import (
	"context"
	"errors"
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
