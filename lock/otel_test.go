package lock_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/memlock"
)

func TestMetricsAndSpans(t *testing.T) {
	ctx := context.Background()
	reader := metric.NewManualReader()
	mp := metric.NewMeterProvider(metric.WithReader(reader))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	m := memlock.New(nil)
	// plain hides memlock's driver.Local marker, so spans are recorded
	// as for a networked backend.
	lk, err := lock.New(plain{m}, &lock.Options{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lk.TryAcquire(ctx, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = lk.TryAcquire(ctx, "k", nil) // locked
	m.Expire("k")
	if err := l.Renew(ctx); err == nil {
		t.Fatal("Renew after Expire succeeded")
	}
	l2, err := lk.Acquire(ctx, "k", &lock.AcquireOptions{Wait: lock.WaitPoll})
	if err != nil {
		t.Fatal(err)
	}
	_ = l2.Release(ctx)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					name := m.Name
					if v, ok := dp.Attributes.Value(attribute.Key("scalekit.lock.result")); ok {
						name += "{" + v.AsString() + "}"
					}
					got[name] += dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					got[m.Name] += int64(dp.Count)
				}
			}
		}
	}
	want := map[string]int64{
		"scalekit.lock.acquires{acquired}": 2,
		"scalekit.lock.acquires{locked}":   1,
		"scalekit.lock.leases_lost":        1,
		"scalekit.lock.wait":               1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("metric %s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	all := strings.Join(names, ",")
	for _, want := range []string{"lock.TryAcquire", "lock.Acquire", "lock.Renew", "lock.Release"} {
		if !strings.Contains(all, want) {
			t.Errorf("spans %s: missing %s", all, want)
		}
	}

	// An in-process driver gets no spans.
	rec2 := tracetest.NewSpanRecorder()
	lk2, _ := lock.New(memlock.New(nil), &lock.Options{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec2))})
	l3, _ := lk2.TryAcquire(ctx, "k", nil)
	_ = l3.Release(ctx)
	if n := len(rec2.Ended()); n != 0 {
		t.Errorf("%d spans for an in-process driver, want none", n)
	}
	var _ driver.Local = m
}
