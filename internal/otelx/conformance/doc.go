// Package conformance holds the test that keeps scalekit's telemetry and
// its reference, docs/metrics.md, from drifting apart: it exercises every
// instrumented package with the OpenTelemetry SDK's in-memory reader and
// span recorder and checks each metric's name, type, unit and attributes,
// and each span's name, kind and attributes, against the tables it parses
// from docs/metrics.md. The package has no non-test code.
package conformance
