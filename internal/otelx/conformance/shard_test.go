package conformance_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/memshard"
)

// exerciseShard produces every scalekit.shard.* instrument and shard span
// on the in-memory store. Package shard starts its spans from the global
// tracer provider (its options take no TracerProvider), so the env's
// provider is made global for the duration.
func exerciseShard(ctx context.Context, t *testing.T, e *env) {
	otel.SetTracerProvider(e.tp)
	defer otel.SetTracerProvider(noop.NewTracerProvider())

	store := memshard.New()
	r, err := shard.NewRouter(store, "users", nil)
	must(t, err)
	m, err := shard.NewMap([]string{"n1", "n2"})
	must(t, err)
	must(t, r.Publish(ctx, m))
	must(t, r.Sync(ctx))

	dir, err := shard.NewDirectory(store, "tenants", nil)
	must(t, err)
	if _, _, err := dir.Lookup(ctx, "acme"); !errors.Is(err, shard.ErrNotFound) {
		t.Fatalf("Lookup of a missing key: %v", err)
	}

	_, err = shard.Scatter(ctx, []string{"n1", "n2"}, func(_ context.Context, s string) (int, error) {
		if s == "n2" {
			return 0, errors.New("down")
		}
		return 1, nil
	}, &shard.ScatterOptions{Name: "users", Partial: true, MeterProvider: e.mp})
	if !errors.Is(err, shard.ErrPartial) {
		t.Fatalf("Scatter with a failing shard: %v", err)
	}

	// Recorded by pgshard's replica router and migrator (PostgreSQL only);
	// the instruments are the shard package's.
	sm := shard.MetricsFor(e.mp)
	sm.ReplicaLag(ctx, "users", "n1/0", 20*time.Millisecond)
	sm.Migration(ctx, "users", "n2")
}
