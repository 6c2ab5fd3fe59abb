// Package otelx holds the small OpenTelemetry helpers every scalekit package
// uses: a tracer and a meter per package, taken from the providers given in
// options or else from the global ones, and span helpers that record errors.
//
// With no SDK installed the global providers are no-ops, so instrumented code
// costs a few nanoseconds and no allocations on paths that do not start spans.
// Hot paths (Pick, Allow, cache hits) record only metrics through instruments
// created once at construction.
package otelx
