package cachetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/memorycache"
)

// Harness makes stores for the suite.
type Harness struct {
	// NewStore returns a store on the engine under test. Stores of one
	// call share nothing the suite relies on; keys are namespaced per
	// sub-test by the suite.
	NewStore func(t *testing.T) driver.Store
	// Peer returns a second, independent handle (another client, as a
	// second process would have) on the engine behind s. Broadcast tests
	// run only when the store implements driver.Broadcaster.
	Peer func(t *testing.T, s driver.Store) driver.Store
	// TooLarge, if non-nil, is a value the store must reject with an error
	// wrapping driver.ErrTooLarge.
	TooLarge []byte
}

// Item is the value type the suite stores.
type Item struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags,omitempty"`
}

var seq atomic.Int64

func open(t *testing.T, s driver.Store, o *cache.Options[string, Item]) *cache.Cache[string, Item] {
	t.Helper()
	var opts cache.Options[string, Item]
	if o != nil {
		opts = *o
	}
	opts.Prefix = fmt.Sprintf("cachetest:%d:%d:", time.Now().UnixNano(), seq.Add(1)) + opts.Prefix
	c, err := cache.NewRemote(s, &opts)
	if err != nil {
		t.Fatalf("cache.NewRemote: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// eventually polls cond until it holds or the deadline passes (for real
// engine TTLs and asynchronous pub/sub delivery; never used for logic the
// suite controls).
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Run runs every conformance test against stores from h.
func Run(t *testing.T, h Harness) {
	if h.NewStore == nil {
		t.Fatal("cachetest: Harness.NewStore is nil")
	}
	ctx := context.Background()
	newCache := func(t *testing.T, o *cache.Options[string, Item]) *cache.Cache[string, Item] {
		return open(t, h.NewStore(t), o)
	}

	t.Run("MissOnEmpty", func(t *testing.T) {
		c := newCache(t, nil)
		if v, ok, err := c.Get(ctx, "absent"); err != nil || ok {
			t.Fatalf("Get(absent) = %v, %v, %v; want a miss without error", v, ok, err)
		}
	})

	t.Run("SetGetRoundTrip", func(t *testing.T) {
		c := newCache(t, nil)
		want := Item{Name: "ünïcode \x00 bytes", Count: 42, Tags: []string{"a", "b"}}
		if err := c.Set(ctx, "k", want); err != nil {
			t.Fatalf("Set: %v", err)
		}
		got, ok, err := c.Get(ctx, "k")
		if err != nil || !ok {
			t.Fatalf("Get after Set = ok %v, err %v; want the value", ok, err)
		}
		if got.Name != want.Name || got.Count != want.Count || len(got.Tags) != 2 {
			t.Fatalf("Get = %+v, want %+v", got, want)
		}
	})

	t.Run("OverwriteReplaces", func(t *testing.T) {
		c := newCache(t, nil)
		_ = c.Set(ctx, "k", Item{Count: 1})
		if err := c.Set(ctx, "k", Item{Count: 2}); err != nil {
			t.Fatalf("Set: %v", err)
		}
		if got, _, _ := c.Get(ctx, "k"); got.Count != 2 {
			t.Fatalf("after overwrite Get = %+v, want Count 2", got)
		}
	})

	t.Run("DeleteRemovesAndToleratesAbsent", func(t *testing.T) {
		c := newCache(t, nil)
		_ = c.Set(ctx, "a", Item{Count: 1})
		_ = c.Set(ctx, "b", Item{Count: 2})
		if err := c.Delete(ctx, "a", "b", "never-set"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		for _, k := range []string{"a", "b"} {
			if _, ok, _ := c.Get(ctx, k); ok {
				t.Fatalf("key %q still present after Delete", k)
			}
		}
	})

	t.Run("MultiGetSet", func(t *testing.T) {
		c := newCache(t, nil)
		in := map[string]Item{}
		for i := range 20 {
			in[fmt.Sprintf("k%d", i)] = Item{Count: i}
		}
		if err := c.SetMulti(ctx, in); err != nil {
			t.Fatalf("SetMulti: %v", err)
		}
		keys := []string{"missing-1"}
		for k := range in {
			keys = append(keys, k)
		}
		keys = append(keys, "missing-2")
		got, err := c.GetMulti(ctx, keys)
		if err != nil {
			t.Fatalf("GetMulti: %v", err)
		}
		if len(got) != len(in) {
			t.Fatalf("GetMulti returned %d entries, want %d (absent keys must be left out)", len(got), len(in))
		}
		for k, v := range in {
			if got[k].Count != v.Count {
				t.Fatalf("GetMulti[%s] = %+v, want %+v", k, got[k], v)
			}
		}
	})

	t.Run("AddIsAtomicSetIfAbsent", func(t *testing.T) {
		c := newCache(t, nil)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				added, err := c.Add(ctx, "once", Item{Count: i})
				if err != nil {
					t.Errorf("Add: %v", err)
				}
				if added {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("%d of 32 concurrent Adds reported added, want exactly 1", n)
		}
		if added, _ := c.Add(ctx, "once", Item{}); added {
			t.Fatal("Add on an existing key reported added")
		}
	})

	t.Run("NativeTTLExpires", func(t *testing.T) {
		c := newCache(t, &cache.Options[string, Item]{TTL: 150 * time.Millisecond})
		if added, err := c.Add(ctx, "ttl", Item{Count: 1}); err != nil || !added {
			t.Fatalf("Add = %v, %v", added, err)
		}
		// Add succeeds again only once the store itself expired the key.
		eventually(t, 5*time.Second, "store expires the key after its TTL", func() bool {
			added, err := c.Add(ctx, "ttl", Item{Count: 2})
			return err == nil && added
		})
	})

	t.Run("ZeroTTLPersists", func(t *testing.T) {
		c := newCache(t, nil)
		_ = c.SetTTL(ctx, "forever", Item{Count: 1}, 0)
		if _, ok, _ := c.Get(ctx, "forever"); !ok {
			t.Fatal("entry with TTL 0 is gone; TTL 0 must mean no expiry")
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		c := newCache(t, nil)
		if err := c.SetTTL(ctx, "k", Item{}, -time.Second); !errors.Is(err, cache.ErrInvalidTTL) {
			t.Fatalf("SetTTL with negative TTL: err %v, want ErrInvalidTTL", err)
		}
		if _, err := c.GetOrLoad(ctx, "k", nil); !errors.Is(err, cache.ErrNilLoader) {
			t.Fatalf("GetOrLoad with nil loader: err %v, want ErrNilLoader", err)
		}
		if h.TooLarge != nil {
			raw := h.NewStore(t)
			if err := raw.Set(ctx, "cachetest:too-large", h.TooLarge, time.Minute); !errors.Is(err, driver.ErrTooLarge) {
				t.Fatalf("Set of %d bytes: err %v, want ErrTooLarge", len(h.TooLarge), err)
			}
			big := newCache(t, nil)
			err := big.Set(ctx, "big", Item{Name: string(h.TooLarge)})
			if !errors.Is(err, cache.ErrTooLarge) {
				t.Fatalf("Cache.Set of an oversized value: err %v, want ErrTooLarge", err)
			}
		}
	})

	t.Run("ReadThroughSingleflight", func(t *testing.T) {
		c := newCache(t, nil)
		var loads atomic.Int32
		release := make(chan struct{})
		loader := func(ctx context.Context, k string) (Item, error) {
			loads.Add(1)
			<-release
			return Item{Name: k}, nil
		}
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := c.GetOrLoad(ctx, "hot", loader)
				if err == nil && v.Name != "hot" {
					err = fmt.Errorf("got %+v", v)
				}
				errs <- err
			}()
		}
		eventually(t, 5*time.Second, "loader started", func() bool { return loads.Load() > 0 })
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("GetOrLoad: %v", err)
			}
		}
		// Late callers may start a second flight after the first stored; any
		// more than that means singleflight did not hold.
		if n := loads.Load(); n > 2 {
			t.Fatalf("50 concurrent misses ran the loader %d times", n)
		}
		if _, ok, _ := c.Get(ctx, "hot"); !ok {
			t.Fatal("loaded value was not stored")
		}
	})

	t.Run("NegativeCaching", func(t *testing.T) {
		c := newCache(t, &cache.Options[string, Item]{NegativeTTL: time.Minute})
		var loads atomic.Int32
		loader := func(context.Context, string) (Item, error) {
			loads.Add(1)
			return Item{}, cache.ErrNotFound
		}
		for range 3 {
			if _, err := c.GetOrLoad(ctx, "nobody", loader); !errors.Is(err, cache.ErrNotFound) {
				t.Fatalf("GetOrLoad = %v, want ErrNotFound", err)
			}
		}
		if n := loads.Load(); n != 1 {
			t.Fatalf("loader ran %d times; the absence should be cached after the first", n)
		}
	})

	if h.Peer != nil {
		t.Run("TieredInvalidationAcrossInstances", func(t *testing.T) {
			s1 := h.NewStore(t)
			if _, ok := s1.(driver.Broadcaster); !ok {
				t.Skip("store does not implement driver.Broadcaster")
			}
			s2 := h.Peer(t, s1)
			prefix := fmt.Sprintf("cachetest:tiered:%d:", time.Now().UnixNano())
			mk := func(s driver.Store) *cache.Cache[string, Item] {
				l1, err := memorycache.New(&memorycache.Options[string, cache.Entry[Item]]{MaxEntries: 1000})
				if err != nil {
					t.Fatal(err)
				}
				c, err := cache.OpenTiered(ctx, l1, s, &cache.Options[string, Item]{Prefix: prefix, L1TTL: time.Hour})
				if err != nil {
					t.Fatalf("OpenTiered: %v", err)
				}
				t.Cleanup(func() { _ = c.Close(ctx) })
				return c
			}
			a, b := mk(s1), mk(s2)
			if err := a.Set(ctx, "k", Item{Count: 1}); err != nil {
				t.Fatal(err)
			}
			if v, ok, _ := b.Get(ctx, "k"); !ok || v.Count != 1 {
				t.Fatalf("instance B Get = %+v, %v; want Count 1 from L2", v, ok)
			}
			// B now holds k in its L1 for up to an hour; only the broadcast
			// can make it see A's next write.
			if err := a.Set(ctx, "k", Item{Count: 2}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "B's L1 cleared after A's write", func() bool {
				v, ok, _ := b.Get(ctx, "k")
				return ok && v.Count == 2
			})
			if err := a.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "B's L1 cleared after A's delete", func() bool {
				_, ok, _ := b.Get(ctx, "k")
				return !ok
			})
		})
	}
}
