package httpx

import (
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestIsNoopProvider(t *testing.T) {
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
		want bool
	}{
		{"global placeholder", otel.GetTracerProvider(), true}, // no test in this binary installs a global SDK
		{"noop package", noop.NewTracerProvider(), true},
		//lint:ignore SA1019 the deprecated constructor is still in use
		{"deprecated trace.NewNoopTracerProvider", trace.NewNoopTracerProvider(), true},
		{"SDK", sdktrace.NewTracerProvider(), false},
	} {
		if got := isNoopProvider(c.tp); got != c.want {
			t.Errorf("%s (%T): %v, want %v", c.name, c.tp, got, c.want)
		}
	}
	if !newTelemetry(nil).tracerIsNoop() || !newTelemetry(&TelemetryOptions{TracerProvider: noop.NewTracerProvider()}).tracerIsNoop() ||
		newTelemetry(&TelemetryOptions{TracerProvider: sdktrace.NewTracerProvider()}).tracerIsNoop() {
		t.Error("tracerIsNoop disagrees with isNoopProvider")
	}
}
