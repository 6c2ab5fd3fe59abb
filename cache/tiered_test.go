package cache_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/clock"
)

// Two instances, each with its own L1, share one L2 and its bus (Redis
// pub/sub in production; the cachetest suite runs this against real Redis).
func TestTieredInvalidatesEveryL1(t *testing.T) {
	clk := clock.NewFake(t0)
	l2, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 1000, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*cache.Cache[string, int], *memorycache.Store[string, cache.Entry[int]]) {
		l1, err := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 100, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		c, err := cache.OpenTiered(ctx, l1, l2, &cache.Options[string, int]{TTL: time.Hour, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(ctx) })
		return c, l1
	}
	a, _ := open()
	b, bL1 := open()
	_ = a.Set(ctx, "k", 1)
	if v, ok, _ := b.Get(ctx, "k"); !ok || v != 1 {
		t.Fatalf("B read %d, %v from L2", v, ok)
	}
	if _, ok := bL1.Get("k"); !ok {
		t.Fatal("B's read did not fill its L1")
	}
	_ = a.Set(ctx, "k", 2)
	if _, ok := bL1.Get("k"); ok {
		t.Fatal("A's write did not clear B's L1")
	}
	if v, _, _ := b.Get(ctx, "k"); v != 2 {
		t.Fatalf("B read %d after A's write, want 2", v)
	}
	_ = a.Delete(ctx, "k")
	if _, ok, _ := b.Get(ctx, "k"); ok {
		t.Fatal("B still sees k after A deleted it")
	}
	// L1 copies live at most L1TTL (default 1 minute), a bound on staleness
	// when an invalidation is lost.
	_ = b.Set(ctx, "j", 1)
	_ = l2.Set(ctx, "j", nil, 0) // overwrite L2 behind the caches' back (corrupt entry)
	clk.Advance(time.Minute)
	if _, ok, err := b.Get(ctx, "j"); ok || err == nil || !errors.Is(err, cache.ErrCorrupt) {
		t.Fatalf("after L1TTL B must read L2 again (got ok=%v err=%v)", ok, err)
	}
}

func TestOpenTieredNeedsBroadcaster(t *testing.T) {
	l1, _ := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 10})
	if _, err := cache.OpenTiered[string, int](ctx, l1, nil, nil); err == nil {
		t.Fatal("OpenTiered without L2 accepted")
	}
}

func TestMetricsExported(t *testing.T) {
	reader := metric.NewManualReader()
	mp := metric.NewMeterProvider(metric.WithReader(reader))
	s, _ := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 1})
	c, err := cache.NewLocal(s, &cache.Options[string, int]{MeterProvider: mp, Name: "users"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var l countingLoader
	_, _ = c.GetOrLoad(ctx, "a", l.load)
	_, _ = c.GetOrLoad(ctx, "a", l.load)
	_, _ = c.GetOrLoad(ctx, "b", l.load) // evicts a (capacity 1)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				got[m.Name] = float64(d.DataPoints[0].Value)
			case metricdata.Gauge[float64]:
				got[m.Name] = d.DataPoints[0].Value
			}
		}
	}
	want := map[string]float64{"scalekit.cache.hits": 1, "scalekit.cache.misses": 2, "scalekit.cache.loads": 2, "scalekit.cache.load_errors": 0, "scalekit.cache.evictions": 1, "scalekit.cache.hit_ratio": 1.0 / 3}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("metric %s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

func TestRemoteCallsAreTraced(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	store, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 10})
	c, err := cache.NewRemote(store, &cache.Options[string, int]{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	_ = c.Set(ctx, "k", 1)
	_, _ = c.GetOrLoad(ctx, "x", func(context.Context, string) (int, error) { return 2, nil })
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	got := strings.Join(names, ",")
	for _, want := range []string{"cache.Set", "cache.Get", "cache.Load"} {
		if !strings.Contains(got, want) {
			t.Fatalf("spans %s, missing %s", got, want)
		}
	}
}

// racingL2 is a shared L2 whose Get runs hook after reading, so a test can
// make another instance write between an instance's L2 read and its L1
// fill.
type racingL2 struct {
	*memorycache.Bytes
	hook func()
}

func (r *racingL2) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, ok, err := r.Bytes.Get(ctx, key)
	if h := r.hook; h != nil {
		r.hook = nil
		h()
	}
	return v, ok, err
}

func (r *racingL2) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	v, err := r.Bytes.GetMulti(ctx, keys)
	if h := r.hook; h != nil {
		r.hook = nil
		h()
	}
	return v, err
}

// A read of B that fetched the old value from L2 while A wrote the new one
// (and A's invalidation reached B before B filled its L1) must not leave
// the old value in B's L1.
func TestTieredReadRacingWriteLeavesNoStaleL1(t *testing.T) {
	shared, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	racing := &racingL2{Bytes: shared}
	open := func(l2 interface {
		driver.Store
		driver.Broadcaster
	}) (*cache.Cache[string, int], *memorycache.Store[string, cache.Entry[int]]) {
		l1, _ := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 100})
		c, err := cache.OpenTiered(ctx, l1, l2, &cache.Options[string, int]{TTL: time.Hour, L1TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(ctx) })
		return c, l1
	}
	a, _ := open(shared)
	b, bL1 := open(racing)
	for _, read := range []struct {
		name string
		get  func(key string) (int, bool)
	}{
		{"Get", func(key string) (int, bool) { v, ok, _ := b.Get(ctx, key); return v, ok }},
		{"GetMulti", func(key string) (int, bool) { m, _ := b.GetMulti(ctx, []string{key}); v, ok := m[key]; return v, ok }},
	} {
		key := "k-" + read.name
		_ = a.Set(ctx, key, 1)
		racing.hook = func() { _ = a.Set(ctx, key, 2) } // A writes after B read 1
		if v, ok := read.get(key); !ok || v != 1 {
			t.Fatalf("%s: B's racing read = %d, %v; want the old 1", read.name, v, ok)
		}
		if e, ok := bL1.Get(key); ok {
			t.Fatalf("%s: B's L1 kept %d after A's invalidation; stale for up to L1TTL", read.name, e.Value)
		}
		if v, ok := read.get(key); !ok || v != 2 {
			t.Fatalf("%s: B's next read = %d, %v; want A's 2", read.name, v, ok)
		}
		if e, ok := bL1.Get(key); !ok || e.Value != 2 {
			t.Fatalf("%s: a read with no invalidation in flight did not fill L1", read.name)
		}
	}
}
