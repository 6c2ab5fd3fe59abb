package otelx

import (
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// globalPkg is the package of the global provider that stands in until an
// SDK is installed with otel.SetTracerProvider.
const globalPkg = "go.opentelemetry.io/otel/internal/global"

// Tracing reports whether spans started through tp (nil: the global
// provider, looked up now) can be recorded. It is false for the no-op
// provider and for the global provider while no SDK is installed, so hot
// paths can skip starting spans (and building their attributes) entirely.
// It costs a few nanoseconds and allocates nothing; call it per operation,
// since a provider may be installed later.
func Tracing(tp trace.TracerProvider) bool {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	switch tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		return false
	}
	t := reflect.TypeOf(tp)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() != globalPkg
}
