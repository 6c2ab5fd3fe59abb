package lb_test

import (
	"net/http"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/scalekit-go/scalekit/lb"
)

// spanAttrs returns the attributes of the one lb.RoundTrip span recorded.
func spanAttrs(t *testing.T, rec *tracetest.SpanRecorder) map[attribute.Key]attribute.Value {
	t.Helper()
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "lb.RoundTrip" {
		t.Fatalf("want one lb.RoundTrip span, got %d", len(spans))
	}
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range spans[0].Attributes() {
		m[kv.Key] = kv.Value
	}
	if len(spans[0].Events()) != 1 || spans[0].Events()[0].Name != "attempt" {
		t.Fatalf("want one attempt event, got %v", spans[0].Events())
	}
	return m
}

func TestTransportSpan(t *testing.T) {
	_, eps := servers(t, "a")
	bal := newBalancer(t, eps, &lb.Options{Name: "users"})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	c := &http.Client{Transport: &lb.Transport{Balancer: bal, TracerProvider: tp}}
	if resp, _ := get(t, c, "http://users/x", nil); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	m := spanAttrs(t, rec)
	if m["scalekit.name"].AsString() != "users" || m["http.request.method"].AsString() != "GET" ||
		m["http.response.status_code"].AsInt64() != 200 {
		t.Fatalf("attributes %v", m)
	}
}

// TestTransportSpanGlobalProviderSetLater: with no TracerProvider the
// Transport skips spans while the global provider is otel's default, and
// records them once an SDK is installed, even after its first request.
func TestTransportSpanGlobalProviderSetLater(t *testing.T) {
	_, eps := servers(t, "a")
	bal := newBalancer(t, eps, nil)
	c := &http.Client{Transport: &lb.Transport{Balancer: bal}}
	if resp, _ := get(t, c, "http://users/x", nil); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	if resp, _ := get(t, c, "http://users/x", nil); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	if m := spanAttrs(t, rec); m["http.request.method"].AsString() != "GET" {
		t.Fatalf("attributes %v", m)
	}
}
