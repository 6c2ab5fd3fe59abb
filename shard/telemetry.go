package shard

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/internal/otelx"
)

// Metrics are the per-shard instruments of this package, created once per
// meter provider:
//
//	scalekit.shard.queries        counter   {query}  per-shard calls of Scatter
//	scalekit.shard.errors         counter   {query}  per-shard calls that failed
//	scalekit.shard.query.duration histogram s        per-shard call latency
//	scalekit.shard.replica.lag    histogram s        replica lag seen by pgshard
//	scalekit.shard.migrations     counter   {unit}   migration units completed
//
// Each carries scalekit.name and scalekit.shard.id (the shard's name).
type Metrics struct {
	queries    metric.Int64Counter
	errors     metric.Int64Counter
	duration   metric.Float64Histogram
	replicaLag metric.Float64Histogram
	migrations metric.Int64Counter
}

var (
	metricsMu sync.Mutex
	metricsBy = map[metric.MeterProvider]*Metrics{}
)

// MetricsFor returns the instruments on mp (nil: the global provider).
func MetricsFor(mp metric.MeterProvider) *Metrics {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if m, ok := metricsBy[mp]; ok {
		return m
	}
	meter := otelx.Meter(mp, "shard")
	m := &Metrics{
		queries: otelx.Must(meter.Int64Counter("scalekit.shard.queries",
			metric.WithUnit("{query}"), metric.WithDescription("Per-shard calls made by scatter-gather."))),
		errors: otelx.Must(meter.Int64Counter("scalekit.shard.errors",
			metric.WithUnit("{query}"), metric.WithDescription("Per-shard calls that failed or timed out."))),
		duration: otelx.Must(meter.Float64Histogram("scalekit.shard.query.duration",
			metric.WithUnit("s"), metric.WithDescription("Per-shard call latency."))),
		replicaLag: otelx.Must(meter.Float64Histogram("scalekit.shard.replica.lag",
			metric.WithUnit("s"), metric.WithDescription("Replica replay lag observed when routing reads."))),
		migrations: otelx.Must(meter.Int64Counter("scalekit.shard.migrations",
			metric.WithUnit("{unit}"), metric.WithDescription("Migration units moved."))),
	}
	metricsBy[mp] = m
	return m
}

func attrs(name, shardID string) metric.MeasurementOption {
	if name == "" {
		name = "shard"
	}
	return metric.WithAttributes(attribute.String("scalekit.name", name), attribute.String("scalekit.shard.id", shardID))
}

// Query records one per-shard call.
func (m *Metrics) Query(ctx context.Context, name, shardID string, d time.Duration, err error) {
	a := attrs(name, shardID)
	m.queries.Add(ctx, 1, a)
	if err != nil {
		m.errors.Add(ctx, 1, a)
	}
	m.duration.Record(ctx, d.Seconds(), a)
}

// ReplicaLag records an observed replica lag.
func (m *Metrics) ReplicaLag(ctx context.Context, name, shardID string, lag time.Duration) {
	m.replicaLag.Record(ctx, lag.Seconds(), attrs(name, shardID))
}

// Migration records one moved unit.
func (m *Metrics) Migration(ctx context.Context, name, shardID string) {
	m.migrations.Add(ctx, 1, attrs(name, shardID))
}

// StartSpan starts a client span named "shard.<op>" (or "<pkg>.<op>" when
// op already has a dot) from the global tracer provider, with scalekit.name
// and extra attributes. Backends use it for their I/O.
func StartSpan(ctx context.Context, pkg, op, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if name == "" {
		name = pkg
	}
	attrs = append(attrs, attribute.String("scalekit.name", name))
	return otelx.Start(ctx, otelx.Tracer(nil, pkg), pkg+"."+op, attrs...)
}

// EndSpan records err on span and ends it.
func EndSpan(span trace.Span, err error) { otelx.End(span, err) }
