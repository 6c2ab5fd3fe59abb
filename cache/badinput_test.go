package cache_test

import (
	"errors"
	"strings"
	"testing"

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
