package httpx_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/httpx"
)

// compareMux is the application both instrumentations wrap.
func compareMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "item "+r.PathValue("id")) })
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/any", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return mux
}

// otelhttpHandler instruments the mux with otelhttp the way httpx's
// otelhttp-based Telemetry did: span named "METHOD route", http.route on
// the span and, through the labeler, on the metrics.
func otelhttpHandler(o *otelHarness) http.Handler {
	mux := compareMux()
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if r.Pattern == "" {
			return
		}
		route := r.Pattern[strings.IndexByte(r.Pattern, '/'):]
		if l, ok := otelhttp.LabelerFromContext(r.Context()); ok {
			l.Add(attribute.String("http.route", route))
		}
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("http.route", route))
	})
	return otelhttp.NewHandler(inner, "",
		otelhttp.WithTracerProvider(o.opts.TracerProvider), otelhttp.WithMeterProvider(o.opts.MeterProvider),
		otelhttp.WithPropagators(o.opts.Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.Pattern != "" {
				return r.Method + " " + r.Pattern[strings.IndexByte(r.Pattern, '/'):]
			}
			return r.Method
		}))
}

// compareRequests are served to both instrumentations.
func compareRequests() []*http.Request {
	r1 := httptest.NewRequest("GET", "http://example.com:8080/items/42", nil)
	r1.RemoteAddr = "10.0.0.1:5555"
	r1.Header.Set("User-Agent", "scalekit-test/1")
	r1.Header.Set("X-Forwarded-For", "203.0.113.9, 10.0.0.1")
	r1.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")

	r2 := httptest.NewRequest("POST", "/orders", strings.NewReader(`{"sku":"a-1","qty":2}`))

	r3 := httptest.NewRequest("HEAD", "https://api.example.com/items/7", nil)
	r3.TLS = &tls.ConnectionState{}

	r4 := httptest.NewRequest("GET", "http://[::1]:8443/any", nil)
	r4.RemoteAddr = "[::1]:9999"
	r4.Proto, r4.ProtoMajor, r4.ProtoMinor = "HTTP/1.0", 1, 0

	r5 := httptest.NewRequest("PUT", "/nowhere", strings.NewReader("x"))
	return []*http.Request{r1, r2, r3, r4, r5}
}

type spanView struct {
	name, kind, status string
	parent             string
	attrs              map[string]string
}

func viewSpans(spans tracetest.SpanStubs) []spanView {
	var out []spanView
	for _, s := range spans {
		v := spanView{name: s.Name, kind: s.SpanKind.String(), status: s.Status.Code.String() + ":" + s.Status.Description,
			parent: s.Parent.TraceID().String(), attrs: map[string]string{}}
		for _, kv := range s.Attributes {
			v.attrs[string(kv.Key)] = kv.Value.Emit()
		}
		out = append(out, v)
	}
	return out
}

// pointKey is a metric data point's attributes as sorted "k=v" pairs.
func pointKey(s attribute.Set, drop ...string) string {
	var kv []string
	for _, a := range s.ToSlice() {
		skip := false
		for _, d := range drop {
			skip = skip || string(a.Key) == d
		}
		if !skip {
			kv = append(kv, string(a.Key)+"="+a.Value.Emit())
		}
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// viewMetrics returns, per server metric, the data points as
// "attributes → count/sum" (durations: count only).
func viewMetrics(t *testing.T, o *otelHarness, drop ...string) map[string][]string {
	out := map[string][]string{}
	for name, agg := range o.metrics(t) {
		switch d := agg.(type) {
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				out[name] = append(out[name], fmt.Sprintf("%s → n=%d", pointKey(p.Attributes, drop...), p.Count))
			}
		case metricdata.Histogram[int64]:
			for _, p := range d.DataPoints {
				out[name] = append(out[name], fmt.Sprintf("%s → n=%d sum=%d", pointKey(p.Attributes, drop...), p.Count, p.Sum))
			}
		}
		sort.Strings(out[name])
	}
	return out
}

// TestTelemetryMatchesOtelhttp serves the same requests through Telemetry
// and through otelhttp v0.66 and compares span names, kinds, statuses,
// parents and attributes, and metric data points, except for the
// documented differences (telemetry_attrs.go), which it checks on their own.
func TestTelemetryMatchesOtelhttp(t *testing.T) {
	ours, theirs := newOtelHarness(), newOtelHarness()
	ours.opts.Propagator, theirs.opts.Propagator = propagation.TraceContext{}, propagation.TraceContext{}
	oh := httpx.Telemetry(ours.opts)(httpx.Routes(compareMux()))
	th := otelhttpHandler(theirs)
	for _, r := range compareRequests() {
		oh.ServeHTTP(httptest.NewRecorder(), r)
	}
	for _, r := range compareRequests() {
		th.ServeHTTP(httptest.NewRecorder(), r)
	}

	os, ts := viewSpans(ours.spans.GetSpans()), viewSpans(theirs.spans.GetSpans())
	if len(os) != 5 || len(ts) != 5 {
		t.Fatalf("%d and %d spans, want 5", len(os), len(ts))
	}
	for i := range os {
		o, th := os[i], ts[i]
		// Documented difference: error.type on 5xx.
		if o.status == "Error:" {
			if o.attrs["error.type"] != o.attrs["http.response.status_code"] {
				t.Errorf("span %s: error.type %q, want the status code %s", o.name, o.attrs["error.type"], o.attrs["http.response.status_code"])
			}
			delete(o.attrs, "error.type")
		}
		if o.name != th.name || o.kind != th.kind || o.status != th.status || o.parent != th.parent {
			t.Errorf("span %d: ours %s/%s/%s parent %s, otelhttp %s/%s/%s parent %s",
				i, o.name, o.kind, o.status, o.parent, th.name, th.kind, th.status, th.parent)
		}
		if fmt.Sprint(o.attrs) != fmt.Sprint(th.attrs) {
			t.Errorf("span %s attributes differ:\n ours     %v\n otelhttp %v", o.name, o.attrs, th.attrs)
		}
	}
	if os[0].attrs["client.address"] != "203.0.113.9" || os[3].attrs["server.port"] != "8443" || os[2].attrs["url.scheme"] != "https" {
		t.Errorf("fixture lost its point: %v / %v / %v", os[0].attrs, os[3].attrs, os[2].attrs)
	}

	// Documented differences: server.address and server.port are opt-in on
	// metrics; error.type on 5xx.
	om := viewMetrics(t, ours, "error.type")
	tm := viewMetrics(t, theirs, "server.address", "server.port")
	for _, name := range []string{"http.server.request.duration", "http.server.request.body.size", "http.server.response.body.size"} {
		if len(om[name]) == 0 || fmt.Sprint(om[name]) != fmt.Sprint(tm[name]) {
			t.Errorf("%s data points differ:\n ours     %q\n otelhttp %q", name, om[name], tm[name])
		}
	}
	sawErrorType := false
	for name, agg := range ours.metrics(t) {
		if h, ok := agg.(metricdata.Histogram[float64]); ok && name == "http.server.request.duration" {
			for _, p := range h.DataPoints {
				code, _ := p.Attributes.Value("http.response.status_code")
				et, has := p.Attributes.Value("error.type")
				if has != (code.AsInt64() >= 500) || has && et.AsString() != fmt.Sprint(code.AsInt64()) {
					t.Errorf("duration point %v: error.type %v", p.Attributes.ToSlice(), et.Emit())
				}
				sawErrorType = sawErrorType || has
			}
		}
	}
	if !sawErrorType {
		t.Error("no 5xx data point with error.type")
	}
}

// TestTelemetryUnknownMethod checks the documented difference for methods
// net/http does not know: "_OTHER" with the original, where otelhttp says
// GET on the span.
func TestTelemetryUnknownMethod(t *testing.T) {
	for _, method := range []string{"BREW", "get"} {
		o := newOtelHarness()
		h := httpx.Telemetry(o.opts)(http.NotFoundHandler())
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, "/x", nil))
		s := viewSpans(o.spans.GetSpans())
		if len(s) != 1 || s[0].name != "_OTHER" || s[0].attrs["http.request.method"] != "_OTHER" || s[0].attrs["http.request.method_original"] != method {
			t.Errorf("%s: spans %+v", method, s)
		}
		var pts []string
		for _, agg := range o.metrics(t) {
			if h, ok := agg.(metricdata.Histogram[float64]); ok {
				for _, p := range h.DataPoints {
					pts = append(pts, pointKey(p.Attributes))
				}
			}
		}
		if len(pts) != 1 || !strings.Contains(pts[0], "http.request.method=_OTHER") {
			t.Errorf("%s: duration points %v", method, pts)
		}
	}
}

// attrSampler records the attributes its sampler saw at span start.
type attrSampler struct{ seen []attribute.KeyValue }

func (s *attrSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	s.seen = append([]attribute.KeyValue(nil), p.Attributes...)
	return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample}
}

func (s *attrSampler) Description() string { return "attrSampler" }

// TestTelemetrySamplerSeesAttributes checks that the attributes the
// conventions want at span creation reach the sampler.
func TestTelemetrySamplerSeesAttributes(t *testing.T) {
	s := &attrSampler{}
	h := httpx.Telemetry(&httpx.TelemetryOptions{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSampler(s))})(http.NotFoundHandler())
	r := httptest.NewRequest("GET", "http://example.com:8080/x", nil)
	r.Header.Set("User-Agent", "ua/1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	got := map[string]string{}
	for _, kv := range s.seen {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	for k, want := range map[string]string{"http.request.method": "GET", "url.path": "/x", "url.scheme": "http",
		"server.address": "example.com", "server.port": "8080", "client.address": "192.0.2.1", "user_agent.original": "ua/1"} {
		if got[k] != want {
			t.Errorf("sampler saw %s=%q, want %q (all: %v)", k, got[k], want, got)
		}
	}
}
