package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/clock"
)

// After Close, Put must not touch the cache: the value would never reach
// the source.
func TestWriteBehindPutAfterCloseTouchesNothing(t *testing.T) {
	s := newSink()
	c, w := newWB(t, clock.NewFake(t0), s, cache.WriteBehindOptions[string, int]{Interval: time.Hour})
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, "k", 1); !errors.Is(err, cache.ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
	if v, ok, _ := c.Get(ctx, "k"); ok {
		t.Fatalf("Put after Close wrote %d to the cache; the source never gets it", v)
	}
}

// A pending write whose cache entry was evicted stays visible to reads
// through the WriteBehind: a read must not load the source's old value.
func TestWriteBehindPendingVisibleAfterEviction(t *testing.T) {
	s := newSink()
	c, w := newWB(t, clock.NewFake(t0), s, cache.WriteBehindOptions[string, int]{Interval: time.Hour})
	source := map[string]int{"k": 1} // the database still holds the old value
	load := func(_ context.Context, k string) (int, error) { return source[k], nil }
	if err := w.Put(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	_ = c.Delete(ctx, "k") // evicted before the flush
	if v, err := w.GetOrLoad(ctx, "k", load); err != nil || v != 2 {
		t.Fatalf("GetOrLoad = %d, %v; the pending write is 2", v, err)
	}
	if v, ok, err := w.Get(ctx, "k"); err != nil || !ok || v != 2 {
		t.Fatalf("Get = %d, %v, %v; the pending write is 2", v, ok, err)
	}
	// Nor may the old value have been cached by the read.
	if v, ok, _ := c.Get(ctx, "k"); ok && v != 2 {
		t.Fatalf("the read cached the source's old value %d", v)
	}
}

// While a batch is being flushed, its writes are still visible.
func TestWriteBehindInFlightVisible(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	flush := func(_ context.Context, b []cache.Pair[string, int]) error {
		close(entered)
		<-release
		return nil
	}
	clk := clock.NewFake(t0)
	c := newCache(t, clk, nil)
	w, err := cache.NewWriteBehind(c, flush, &cache.WriteBehindOptions[string, int]{Clock: clk, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- w.Flush(ctx) }()
	<-entered
	_ = c.Delete(ctx, "k")
	load := func(context.Context, string) (int, error) { return 1, nil }
	if v, err := w.GetOrLoad(ctx, "k", load); err != nil || v != 2 {
		t.Fatalf("GetOrLoad during the flush = %d, %v; want 2", v, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = w.Close(ctx)
}
