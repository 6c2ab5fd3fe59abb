package otelx

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopePrefix is the instrumentation scope prefix of every scalekit package.
const ScopePrefix = "github.com/scalekit-go/scalekit/"

// Tracer returns the tracer of package pkg (for example "lock/redislock")
// from tp, or from the global provider when tp is nil.
func Tracer(tp trace.TracerProvider, pkg string) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopePrefix + pkg)
}

// Meter returns the meter of package pkg from mp, or from the global provider
// when mp is nil.
func Meter(mp metric.MeterProvider, pkg string) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(ScopePrefix + pkg)
}

// Start starts a client-kind span named name with attrs.
func Start(ctx context.Context, tr trace.Tracer, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// End records err (if any) on span, sets its status and ends it.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Must returns v, or panics with err. Instrument constructors only fail on
// invalid names, which is a programming error in scalekit itself.
func Must[T any](v T, err error) T {
	if err != nil {
		panic("otelx: " + err.Error())
	}
	return v
}

// NameKey is the attribute every instrument that a service may create twice
// carries: the instance's Options.Name, defaulting to the package name.
const NameKey = attribute.Key("scalekit.name")

// Name returns the scalekit.name attribute for name, or for def when name
// is empty.
func Name(name, def string) attribute.KeyValue {
	if name == "" {
		name = def
	}
	return NameKey.String(name)
}

// MeterProviderOr returns mp, or the global meter provider when mp is nil.
func MeterProviderOr(mp metric.MeterProvider) metric.MeterProvider {
	if mp == nil {
		return otel.GetMeterProvider()
	}
	return mp
}
