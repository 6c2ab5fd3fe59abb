package otelx

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
)

func TestNoProviderIsCheap(t *testing.T) {
	tr := Tracer(nil, "test")
	m := Meter(nil, "test")
	c := Must(m.Int64Counter("scalekit.test.count"))
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() { c.Add(ctx, 1) })
	if allocs != 0 {
		t.Fatalf("counter Add with no provider allocates %v", allocs)
	}
	ctx, span := Start(ctx, tr, "op")
	End(span, errors.New("boom"))
	_ = Tracer(noop.NewTracerProvider(), "x")
}

func TestMustPanicsOnError(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Must did not panic")
		}
	}()
	Must(0, errors.New("bad"))
}
