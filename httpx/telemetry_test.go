package httpx_test

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/httpx"
)

type otelHarness struct {
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
	opts   *httpx.TelemetryOptions
}

func newOtelHarness() *otelHarness {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	return &otelHarness{spans: exp, reader: reader, opts: &httpx.TelemetryOptions{
		TracerProvider: tp, MeterProvider: mp, Propagator: propagation.TraceContext{}}}
}

func (h *otelHarness) metrics(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

func attrOf(attrs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, a := range attrs {
		if string(a.Key) == key {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestTelemetrySpansAndMetrics(t *testing.T) {
	o := newOtelHarness()
	mux := http.NewServeMux()
	var inner trace.SpanContext
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	// RequestID in between copies the request: Routes still reports the pattern.
	h := httpx.Chain(httpx.RequestID(nil), httpx.Telemetry(o.opts), httpx.Timeout(0, nil))(httpx.Routes(mux))

	parent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	serve(h, get("/items/42", "traceparent", parent, "X-Request-ID", "rid-9"))
	serve(h, req("POST", "/fail", ""))
	serve(h, req("BREW", "/coffee", ""))

	spans := o.spans.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.Name != "GET /items/{id}" || s.SpanKind != trace.SpanKindServer {
		t.Fatalf("span %q kind %v", s.Name, s.SpanKind)
	}
	if s.Parent.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !s.Parent.IsRemote() {
		t.Fatalf("parent %v", s.Parent)
	}
	if inner.SpanID() != s.SpanContext.SpanID() {
		t.Fatal("handler context does not carry the server span")
	}
	for k, want := range map[string]string{"http.request.method": "GET", "http.route": "/items/{id}", "url.path": "/items/42", "scalekit.httpx.request_id": "rid-9"} {
		if v, ok := attrOf(s.Attributes, k); !ok || v.AsString() != want {
			t.Errorf("%s = %v", k, v.Emit())
		}
	}
	if v, _ := attrOf(s.Attributes, "http.response.status_code"); v.AsInt64() != 202 {
		t.Errorf("status attr %v", v.Emit())
	}
	if spans[1].Status.Code != codes.Error || spans[0].Status.Code == codes.Error {
		t.Fatalf("statuses %v %v", spans[0].Status, spans[1].Status)
	}
	if spans[2].Name != "_OTHER" {
		t.Fatalf("unknown method span %q", spans[2].Name)
	}

	m := o.metrics(t)
	hist, ok := m["http.server.request.duration"].(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("no duration histogram: %v", m)
	}
	var total uint64
	var sawRoute bool
	for _, dp := range hist.DataPoints {
		total += dp.Count
		if v, ok := dp.Attributes.Value("http.route"); ok && v.AsString() == "/items/{id}" {
			sawRoute = true
		}
	}
	if total != 3 || !sawRoute {
		t.Fatalf("histogram count %d, route %v", total, sawRoute)
	}
	act := m["http.server.active_requests"].(metricdata.Sum[int64])
	for _, dp := range act.DataPoints {
		if dp.Value != 0 {
			t.Fatalf("active requests %d after all finished", dp.Value)
		}
	}
}

func TestTelemetryPanicAndSkip(t *testing.T) {
	o := newOtelHarness()
	o.opts.Skip = func(r *http.Request) bool { return r.URL.Path == "/healthz" }
	o.opts.Route = func(r *http.Request) string { return "custom" }
	h := httpx.Telemetry(o.opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("x")
		}
	}))
	serve(h, get("/healthz"))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic swallowed")
			}
		}()
		serve(h, get("/panic"))
	}()
	spans := o.spans.GetSpans()
	if len(spans) != 1 || spans[0].Status.Code != codes.Error || spans[0].Name != "GET custom" {
		t.Fatalf("spans %v", spans)
	}
	if v, _ := attrOf(spans[0].Attributes, "http.response.status_code"); v.AsInt64() != 500 {
		t.Fatalf("status %v", v.Emit())
	}
}
