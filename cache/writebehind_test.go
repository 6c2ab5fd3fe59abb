package cache_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/clock"
)

// sink records flushed batches and can be told to fail.
type sink struct {
	mu      sync.Mutex
	batches [][]cache.Pair[string, int]
	fails   int // fail this many more calls
	got     chan int
}

func newSink() *sink { return &sink{got: make(chan int, 100)} }

func (s *sink) flush(_ context.Context, b []cache.Pair[string, int]) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails > 0 {
		s.fails--
		return errors.New("db unavailable")
	}
	s.batches = append(s.batches, append([]cache.Pair[string, int](nil), b...))
	s.got <- len(b)
	return nil
}

func (s *sink) all() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for _, b := range s.batches {
		for _, p := range b {
			m[p.Key] = p.Value
		}
	}
	return m
}

func newWB(t *testing.T, clk *clock.Fake, s *sink, o cache.WriteBehindOptions[string, int]) (*cache.Cache[string, int], *cache.WriteBehind[string, int]) {
	t.Helper()
	c := newCache(t, clk, nil)
	o.Clock = clk
	w, err := cache.NewWriteBehind(c, s.flush, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(ctx) })
	return c, w
}

func TestWriteBehindFlushesBySize(t *testing.T) {
	s := newSink()
	c, w := newWB(t, clock.NewFake(t0), s, cache.WriteBehindOptions[string, int]{BatchSize: 3, Interval: time.Hour})
	for i, k := range []string{"a", "b", "c"} {
		if err := w.Put(ctx, k, i); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok, _ := c.Get(ctx, "b"); !ok || v != 1 {
		t.Fatal("Put must update the cache at once")
	}
	if n := <-s.got; n != 3 {
		t.Fatalf("batch of %d, want 3", n)
	}
}

func TestWriteBehindFlushesByInterval(t *testing.T) {
	clk := clock.NewFake(t0)
	s := newSink()
	_, w := newWB(t, clk, s, cache.WriteBehindOptions[string, int]{BatchSize: 100, Interval: time.Second})
	_ = w.Put(ctx, "a", 1)
	clk.Advance(5 * time.Second)
	if st := w.Stats(); st.Pending != 1 || st.LossWindow != 5*time.Second {
		// The ticker may already have fired; then the write is flushed.
		if st.Flushed == 0 && st.InFlight == 0 {
			t.Fatalf("stats = %+v, want 1 pending 5s old", st)
		}
	}
	if n := <-s.got; n != 1 {
		t.Fatalf("interval flush of %d writes, want 1", n)
	}
}

func TestWriteBehindCoalescesAndReportsLossWindow(t *testing.T) {
	clk := clock.NewFake(t0)
	s := newSink()
	_, w := newWB(t, clk, s, cache.WriteBehindOptions[string, int]{BatchSize: 100, Interval: time.Hour})
	for i := range 5 {
		_ = w.Put(ctx, "k", i)
	}
	_ = w.Put(ctx, "other", 9)
	clk.Advance(30 * time.Second)
	st := w.Stats()
	if st.Pending != 2 || st.Coalesced != 4 || st.LossWindow != 30*time.Second {
		t.Fatalf("stats = %+v, want 2 pending, 4 coalesced, 30s loss window", st)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.all(); len(got) != 2 || got["k"] != 4 {
		t.Fatalf("flushed %v, want only the latest value of k (4)", got)
	}
	if st := w.Stats(); st.Pending != 0 || st.LossWindow != 0 || st.Flushed != 2 {
		t.Fatalf("after Flush stats = %+v", st)
	}
}

func TestWriteBehindRetriesWithBackoff(t *testing.T) {
	clk := clock.NewFake(t0)
	s := newSink()
	s.fails = 2
	_, w := newWB(t, clk, s, cache.WriteBehindOptions[string, int]{Interval: time.Hour, MaxAttempts: 5, RetryInitial: time.Second, RetryMax: time.Minute})
	_ = w.Put(ctx, "k", 1)
	done := make(chan error, 1)
	go func() { done <- w.Flush(ctx) }()
	for range 2 {
		// ticker + the retry timer
		if err := clk.BlockUntil(ctx, 2); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	if err := <-done; err != nil {
		t.Fatalf("Flush after transient failures: %v", err)
	}
	if st := w.Stats(); st.Retries != 2 || st.Flushed != 1 || st.Dropped != 0 {
		t.Fatalf("stats = %+v, want 2 retries and 1 flushed", st)
	}
}

func TestWriteBehindDropsAfterMaxAttempts(t *testing.T) {
	clk := clock.NewFake(t0)
	s := newSink()
	s.fails = 1 << 30
	var dropped []cache.Pair[string, int]
	_, w := newWB(t, clk, s, cache.WriteBehindOptions[string, int]{
		Interval: time.Hour, MaxAttempts: 2, RetryInitial: time.Second,
		OnDrop: func(b []cache.Pair[string, int], err error) { dropped = append(dropped, b...) },
	})
	_ = w.Put(ctx, "k", 1)
	done := make(chan error, 1)
	go func() { done <- w.Flush(ctx) }()
	if err := clk.BlockUntil(ctx, 2); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := <-done; err == nil {
		t.Fatal("Flush hid a dropped batch")
	}
	if st := w.Stats(); st.Dropped != 1 || len(dropped) != 1 || dropped[0].Key != "k" {
		t.Fatalf("stats = %+v, OnDrop got %v", st, dropped)
	}
}

func TestWriteBehindCloseFlushesEverything(t *testing.T) {
	s := newSink()
	c := newCache(t, clock.NewFake(t0), nil)
	w, err := cache.NewWriteBehind(c, s.flush, &cache.WriteBehindOptions[string, int]{BatchSize: 4, Interval: time.Hour, Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c", "d", "e", "f", "g"}
	for i, k := range keys[:6] {
		_ = w.Put(ctx, k, i)
	}
	_ = w.Put(ctx, "g", 6)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := s.all()
	var flushed []string
	for k := range got {
		flushed = append(flushed, k)
	}
	sort.Strings(flushed)
	if len(flushed) != len(keys) {
		t.Fatalf("Close flushed %v, want all of %v", flushed, keys)
	}
	if err := w.Put(ctx, "h", 1); !errors.Is(err, cache.ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if err := w.Close(ctx); !errors.Is(err, cache.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestWriteBehindBoundedQueueBlocks(t *testing.T) {
	s := newSink()
	_, w := newWB(t, clock.NewFake(t0), s, cache.WriteBehindOptions[string, int]{MaxPending: 2, BatchSize: 100, Interval: time.Hour})
	_ = w.Put(ctx, "a", 1)
	_ = w.Put(ctx, "b", 2)
	_ = w.Put(ctx, "a", 3) // coalesced: no room needed
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Put(cancelled, "c", 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put on a full queue with a dead ctx: %v, want context.Canceled", err)
	}
	unblocked := make(chan error, 1)
	go func() { unblocked <- w.Put(ctx, "c", 3) }()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-unblocked; err != nil {
		t.Fatalf("blocked Put after room freed: %v", err)
	}
}

func TestWriteBehindBadInput(t *testing.T) {
	c := newCache(t, nil, nil)
	if _, err := cache.NewWriteBehind(c, nil, nil); !errors.Is(err, cache.ErrNilLoader) {
		t.Fatalf("nil flush: %v", err)
	}
	if _, err := cache.NewWriteBehind(c, newSink().flush, &cache.WriteBehindOptions[string, int]{BatchSize: -1}); err == nil {
		t.Fatal("negative BatchSize accepted")
	}
}

func TestWriteBehindMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	clk := clock.NewFake(t0)
	_, w := newWB(t, clk, newSink(), cache.WriteBehindOptions[string, int]{Interval: time.Hour, MeterProvider: mp})
	_ = w.Put(ctx, "a", 1)
	_ = w.Put(ctx, "b", 1)
	clk.Advance(3 * time.Second)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				got[m.Name] = float64(d.DataPoints[0].Value)
			case metricdata.Gauge[float64]:
				got[m.Name] = d.DataPoints[0].Value
			}
		}
	}
	if got["scalekit.cache.writebehind.queue_depth"] != 2 || got["scalekit.cache.writebehind.loss_window"] != 3 {
		t.Fatalf("metrics %v, want queue_depth 2 and loss_window 3s", got)
	}
}
