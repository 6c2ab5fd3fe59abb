package cache

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/internal/otelx"
)

// Stats is a snapshot of a Cache's counters since it was created.
type Stats struct {
	// Hits counts reads answered from the cache, including negative and
	// stale hits.
	Hits uint64
	// Misses counts reads that found nothing usable.
	Misses uint64
	// StaleHits counts stale values served (stale-while-revalidate and
	// stale-if-error).
	StaleHits uint64
	// NegativeHits counts reads answered by a cached ErrNotFound.
	NegativeHits uint64
	// GuardRejects counts reads the Guard answered "definitely absent".
	GuardRejects uint64
	// Loads counts loader calls (after singleflight); LoadErrors those
	// that failed with something other than ErrNotFound.
	Loads, LoadErrors uint64
	// Refreshes counts background reloads started.
	Refreshes uint64
	// StoreErrors counts store errors swallowed by GetOrLoad.
	StoreErrors uint64
	// Evictions counts entries the in-process store evicted for room.
	Evictions uint64
}

// HitRatio returns Hits / (Hits + Misses), or 0 before any read.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

type counters struct {
	hits, misses, staleHits, negativeHits, guardRejects atomic.Uint64
	loads, loadErrors, refreshes, storeErrors           atomic.Uint64
}

// Stats returns the current counters.
func (c *Cache[K, V]) Stats() Stats {
	return Stats{
		Hits:         c.st.hits.Load(),
		Misses:       c.st.misses.Load(),
		StaleHits:    c.st.staleHits.Load(),
		NegativeHits: c.st.negativeHits.Load(),
		GuardRejects: c.st.guardRejects.Load(),
		Loads:        c.st.loads.Load(),
		LoadErrors:   c.st.loadErrors.Load(),
		Refreshes:    c.st.refreshes.Load(),
		StoreErrors:  c.st.storeErrors.Load(),
		Evictions:    c.b.evictions(),
	}
}

type metricsReg struct{ reg metric.Registration }

func (m *metricsReg) unregister() error { return m.reg.Unregister() }

// registerMetrics exposes the counters as asynchronous instruments, so the
// hot path pays only for its atomic adds.
func registerMetrics[K comparable, V any](c *Cache[K, V]) (*metricsReg, error) {
	m := otelx.Meter(c.o.MeterProvider, "cache")
	hits := otelx.Must(m.Int64ObservableCounter("scalekit.cache.hits", metric.WithUnit("{read}"), metric.WithDescription("reads answered from the cache")))
	misses := otelx.Must(m.Int64ObservableCounter("scalekit.cache.misses", metric.WithUnit("{read}"), metric.WithDescription("reads that missed")))
	loads := otelx.Must(m.Int64ObservableCounter("scalekit.cache.loads", metric.WithUnit("{call}"), metric.WithDescription("loader calls")))
	loadErrs := otelx.Must(m.Int64ObservableCounter("scalekit.cache.load_errors", metric.WithUnit("{call}"), metric.WithDescription("failed loader calls")))
	evictions := otelx.Must(m.Int64ObservableCounter("scalekit.cache.evictions", metric.WithUnit("{entry}"), metric.WithDescription("entries evicted for room")))
	ratio := otelx.Must(m.Float64ObservableGauge("scalekit.cache.hit_ratio", metric.WithUnit("1"), metric.WithDescription("hits / (hits + misses) since start")))
	opt := metric.WithAttributes(c.attrs...)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := c.Stats()
		o.ObserveInt64(hits, int64(s.Hits), opt)
		o.ObserveInt64(misses, int64(s.Misses), opt)
		o.ObserveInt64(loads, int64(s.Loads), opt)
		o.ObserveInt64(loadErrs, int64(s.LoadErrors), opt)
		o.ObserveInt64(evictions, int64(s.Evictions), opt)
		o.ObserveFloat64(ratio, s.HitRatio(), opt)
		return nil
	}, hits, misses, loads, loadErrs, evictions, ratio)
	if err != nil {
		return nil, err
	}
	return &metricsReg{reg: reg}, nil
}
