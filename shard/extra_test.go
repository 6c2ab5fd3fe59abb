package shard_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/scalekit-go/scalekit/shard"
)

func TestSequence(t *testing.T) {
	seen := map[int64]bool{}
	for i := 0; i < 4; i++ {
		s, err := shard.NewSequence(i, 4)
		if err != nil {
			t.Fatal(err)
		}
		for n := int64(0); n < 100; n++ {
			id, ok := s.Nth(n)
			if !ok || seen[id] || !s.Owns(id) {
				t.Fatalf("shard %d n %d id %d ok %v dup %v", i, n, id, ok, seen[id])
			}
			seen[id] = true
			if slot, _ := shard.SlotOf(id, 4); slot != int64(i) {
				t.Fatalf("id %d slot %d want %d", id, slot, i)
			}
		}
	}
	if _, err := shard.NewSequence(4, 4); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	if _, err := shard.NewSequence(0, 0); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	s, _ := shard.NewSequence(1, 8)
	if _, ok := s.Nth(1 << 62); ok {
		t.Fatal("overflow not reported")
	}
	if s.PostgresDDL("ids") != "CREATE SEQUENCE IF NOT EXISTS ids START WITH 2 INCREMENT BY 8 MINVALUE 1" {
		t.Fatal(s.PostgresDDL("ids"))
	}
	if _, err := shard.SlotOf(0, 4); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
}

func TestHotTracker(t *testing.T) {
	h, err := shard.NewHotTracker(3)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := shard.Spread(16, []string{"a", "b", "c", "d"})
	for i := 0; i < 4000; i++ {
		k := testKeys[i]
		if i%2 == 0 {
			k = "celebrity" // half of all traffic
		}
		_, n := m.Lookup(k)
		h.Observe(k, n)
	}
	r := h.Report()
	if r.Total != 4000 || r.Keys[0].Key != "celebrity" || r.Keys[0].Count < 2000 {
		t.Fatalf("report %+v", r.Keys)
	}
	_, hot := m.Lookup("celebrity")
	if r.Shards[0].Shard != hot || r.Shards[0].Ratio < 2 {
		t.Fatalf("hot shard %+v, want %s with ratio > 2", r.Shards[0], hot)
	}
	h.Decay()
	if tot := h.Report().Total; tot > 2000 || tot < 1996 {
		t.Fatal("decay")
	}
	if _, err := shard.NewHotTracker(0); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
}

func TestScatterMetrics(t *testing.T) {
	reader := metric.NewManualReader()
	mp := metric.NewMeterProvider(metric.WithReader(reader))
	_, _ = shard.Scatter(context.Background(), []string{"s001", "s002", "s003"}, slowShard,
		&shard.ScatterOptions{Partial: true, Name: "orders", MeterProvider: mp, Timeout: 20e6})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					if n, _ := dp.Attributes.Value("scalekit.name"); n.AsString() != "orders" {
						t.Fatalf("%s without scalekit.name", m.Name)
					}
					found[m.Name] += dp.Value
				}
			}
			if m.Name == "scalekit.shard.query.duration" && m.Unit != "s" {
				t.Fatalf("duration unit %q", m.Unit)
			}
		}
	}
	if found["scalekit.shard.queries"] != 3 || found["scalekit.shard.errors"] != 2 {
		t.Fatalf("metrics %v", found)
	}
}

func TestScatterSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	defer otel.SetTracerProvider(prev)
	_, err := shard.Scatter(context.Background(), []string{"s002"}, slowShard, &shard.ScatterOptions{Name: "orders"})
	if err == nil {
		t.Fatal("want error")
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "shard.Scatter" || spans[0].Status().Code != codes.Error {
		t.Fatalf("spans %v", spans)
	}
}
