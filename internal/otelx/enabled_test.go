package otelx

import (
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestTracing(t *testing.T) {
	if Tracing(nil) {
		t.Error("Tracing(nil) with no SDK installed = true")
	}
	if Tracing(noop.NewTracerProvider()) {
		t.Error("Tracing(noop) = true")
	}
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(t.Context()) }()
	if !Tracing(tp) {
		t.Error("Tracing(SDK provider) = false")
	}
	if n := testing.AllocsPerRun(100, func() { _ = Tracing(nil) }); n != 0 {
		t.Errorf("Tracing allocates %v", n)
	}
}
