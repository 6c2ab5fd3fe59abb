package cache_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/clock"
)

// Every strategy that takes a function rejects nil with ErrNilLoader
// instead of panicking later, and leaves the cache untouched.
func TestNilLoaderAndWriter(t *testing.T) {
	c := newCache(t, clock.NewFake(t0), nil)
	if _, err := c.GetOrLoad(ctx, "k", nil); !errors.Is(err, cache.ErrNilLoader) {
		t.Errorf("GetOrLoad(nil) err = %v", err)
	}
	if err := c.WriteThrough(ctx, "k", 1, nil); !errors.Is(err, cache.ErrNilLoader) {
		t.Errorf("WriteThrough(nil) err = %v", err)
	}
	if err := c.WriteAround(ctx, "k", 1, nil); !errors.Is(err, cache.ErrNilLoader) {
		t.Errorf("WriteAround(nil) err = %v", err)
	}
	if _, ok, _ := c.Get(ctx, "k"); ok {
		t.Error("a rejected call stored a value")
	}
	if st := c.Stats(); st.Loads != 0 {
		t.Errorf("Loads = %d", st.Loads)
	}
}

// A value larger than the backend accepts is an error wrapping
// ErrTooLarge from every write path, never a silent drop.
func TestOversizedValue(t *testing.T) {
	store, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxBytes: 4096, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.NewRemote(store, &cache.Options[string, string]{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	big := strings.Repeat("x", 10_000)
	if err := c.Set(ctx, "big", big); !errors.Is(err, cache.ErrTooLarge) {
		t.Fatalf("Set of 10 kB into a 4 kB store: err = %v, want ErrTooLarge", err)
	} else {
		t.Log(err)
	}
	if err := c.SetMulti(ctx, map[string]string{"big": big}); !errors.Is(err, cache.ErrTooLarge) {
		t.Fatalf("SetMulti: err = %v, want ErrTooLarge", err)
	}
	if _, err := c.Add(ctx, "big", big); !errors.Is(err, cache.ErrTooLarge) {
		t.Fatalf("Add: err = %v, want ErrTooLarge", err)
	}
	if _, ok, _ := c.Get(ctx, "big"); ok {
		t.Fatal("oversized value readable")
	}
	if err := c.Set(ctx, "small", "fits"); err != nil {
		t.Fatalf("small value after an oversized one: %v", err)
	}
}

// NewInMemory is the one-call local cache: no memorycache.Options with
// cache.Entry spelled out. Its store takes the cache's clock.
func TestNewInMemory(t *testing.T) {
	clk := clock.NewFake(t0)
	c, err := cache.NewInMemory[string, int](2, &cache.Options[string, int]{TTL: time.Minute, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for i, k := range []string{"a", "b", "c", "d"} {
		if err := c.Set(ctx, k, i); err != nil {
			t.Fatal(err)
		}
	}
	held := 0
	for _, k := range []string{"a", "b", "c", "d"} {
		if _, ok, _ := c.Get(ctx, k); ok {
			held++
		}
	}
	if held == 0 || held > 2 {
		t.Fatalf("capacity 2 holds %d of 4 keys", held)
	}
	clk.Advance(time.Minute)
	if _, ok, _ := c.Get(ctx, "d"); ok {
		t.Fatal("entry outlived its TTL on the cache's clock")
	}
	if _, err := cache.NewInMemory[string, int](0, nil); err == nil {
		t.Fatal("capacity 0 accepted")
	}
}
