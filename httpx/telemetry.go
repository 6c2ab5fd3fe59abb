package httpx

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/internal/otelx"
)

// TelemetryOptions configure Telemetry. The zero value (or nil) uses the
// global OpenTelemetry providers and propagator.
type TelemetryOptions struct {
	// TracerProvider starts the server spans. Default the global one.
	TracerProvider trace.TracerProvider
	// MeterProvider records the request metrics. Default the global one.
	MeterProvider metric.MeterProvider
	// Propagator extracts the caller's trace context from the request
	// headers. Default otel.GetTextMapPropagator().
	Propagator propagation.TextMapPropagator
	// Route names the route of a request (a low-cardinality template such
	// as "GET /users/{id}") when neither SetRoute nor Routes supplied one.
	// Default: none (metrics then carry no http.route).
	Route func(*http.Request) string
	// Skip, when it returns true, leaves a request untraced and unmeasured
	// (for example health probes).
	Skip func(*http.Request) bool
}

// SetRoute records the route template of the request being served, for
// Telemetry's span name and http.route attribute. Call it from a handler
// or router adapter; without Telemetry it does nothing.
func SetRoute(ctx context.Context, route string) {
	if c := reqFrom(ctx); c != nil {
		c.route = route
	}
}

// Routes wraps a ServeMux so that the path of the pattern it matched
// ("/items/{id}" for "GET /items/{id}") is reported to Telemetry, however
// many middlewares sit in between.
func Routes(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if r.Pattern != "" {
			SetRoute(r.Context(), routeOfPattern(r.Pattern))
		}
	})
}

// Telemetry traces every request with an OpenTelemetry server span (the
// caller's context extracted from the headers, attributes following the
// HTTP semantic conventions, status Error on 5xx) and records the
// http.server.request.duration histogram (seconds) and the
// http.server.active_requests gauge, by method, status and route. The span
// context is in the request context, so outgoing calls and logs join the
// trace. With no SDK installed it costs a few hundred nanoseconds.
func Telemetry(opts *TelemetryOptions) Middleware {
	var o TelemetryOptions
	if opts != nil {
		o = *opts
	}
	meter := otelx.Meter(o.MeterProvider, "httpx")
	t := &telemetry{
		o:      o,
		tracer: otelx.Tracer(o.TracerProvider, "httpx"),
		duration: otelx.Must(meter.Float64Histogram("http.server.request.duration",
			metric.WithUnit("s"), metric.WithDescription("Duration of HTTP server requests."),
			metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))),
		active: otelx.Must(meter.Int64UpDownCounter("http.server.active_requests",
			metric.WithUnit("{request}"), metric.WithDescription("Number of HTTP server requests in flight."))),
		startOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)},
	}
	for i, m := range semconvMethods {
		t.activeOpts[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("http.request.method", m)))}
	}
	empty := map[recordKey][]metric.RecordOption{}
	t.recordOpts.Store(&empty)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if t.o.Skip != nil && t.o.Skip(r) {
				next.ServeHTTP(w, r)
				return
			}
			t.serve(w, r, next)
		})
	}
}

// semconvMethods are the methods kept as metric attributes; any other is
// reported as "_OTHER" so a client cannot blow up metric cardinality.
var semconvMethods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace, "_OTHER"}

func methodIndex(m string) int {
	for i, s := range semconvMethods[:len(semconvMethods)-1] {
		if s == m {
			return i
		}
	}
	return len(semconvMethods) - 1
}

// maxRecordKeys bounds the cache of metric attribute sets (method ×
// status × route); past it, sets are built per request.
const maxRecordKeys = 4096

type recordKey struct {
	method int
	status int
	route  string
}

type telemetry struct {
	o          TelemetryOptions
	tracer     trace.Tracer
	duration   metric.Float64Histogram
	active     metric.Int64UpDownCounter
	startOpts  []trace.SpanStartOption
	activeOpts [len(semconvMethods)][]metric.AddOption
	// recordOpts caches the attribute options of each (method, status,
	// route): an immutable map replaced on insert, so lookups take no lock
	// and no allocation.
	recordOpts atomic.Pointer[map[recordKey][]metric.RecordOption]
	mu         sync.Mutex
}

func (t *telemetry) recordOptions(k recordKey) []metric.RecordOption {
	if opts, ok := (*t.recordOpts.Load())[k]; ok {
		return opts
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", semconvMethods[k.method]),
		attribute.Int("http.response.status_code", k.status),
	}
	if k.route != "" {
		attrs = append(attrs, attribute.String("http.route", k.route))
	}
	opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := *t.recordOpts.Load()
	if len(cur) < maxRecordKeys {
		next := make(map[recordKey][]metric.RecordOption, len(cur)+1)
		for kk, v := range cur {
			next[kk] = v
		}
		next[k] = opts
		t.recordOpts.Store(&next)
	}
	return opts
}

func (t *telemetry) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	prop := t.o.Propagator
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	st, r := requestState(r)
	base := r.Context()
	ctx := prop.Extract(base, propagation.HeaderCarrier(r.Header))
	mi := methodIndex(r.Method)
	method := semconvMethods[mi]
	t.active.Add(ctx, 1, t.activeOpts[mi]...)
	ctx, span := t.tracer.Start(ctx, method, t.startOpts...)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("http.request.method", method),
			attribute.String("url.path", r.URL.Path),
			attribute.String("url.scheme", scheme(r)),
			attribute.String("server.address", r.Host),
			attribute.String("client.address", r.RemoteAddr),
			attribute.String("user_agent.original", r.UserAgent()),
			attribute.String("network.protocol.version", protoVersion(r)))
	}
	if span.IsRecording() || span.SpanContext().IsValid() {
		r = r.WithContext(ctx) // otherwise the span is a no-op: keep the request
	}
	rw := wrapWriter(w)
	defer t.finish(ctx, span, st, rw, r, mi, time.Now())
	next.ServeHTTP(rw, r)
}

// finish ends the span and records the metrics; it is deferred so that a
// panic is recorded as a 500 before it continues up.
func (t *telemetry) finish(ctx context.Context, span trace.Span, st *reqCtx, rw *responseWriter, r *http.Request, mi int, start time.Time) {
	v := recover()
	code := rw.status
	if code == 0 {
		code = http.StatusOK
		if v != nil {
			code = http.StatusInternalServerError
		}
	}
	route := st.route
	if route == "" && r.Pattern != "" {
		route = routeOfPattern(r.Pattern)
	}
	if route == "" && t.o.Route != nil {
		route = t.o.Route(r)
	}
	if span.IsRecording() {
		if route != "" {
			span.SetName(semconvMethods[mi] + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		if st.id != "" {
			span.SetAttributes(attribute.String("http.request.id", st.id))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", code))
		if code >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(code))
		}
		if v != nil {
			span.SetStatus(codes.Error, "panic")
		}
	}
	span.End()
	t.duration.Record(ctx, time.Since(start).Seconds(), t.recordOptions(recordKey{mi, code, route})...)
	t.active.Add(ctx, -1, t.activeOpts[mi]...)
	if v != nil {
		panic(v)
	}
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func protoVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 2:
		return "2"
	case r.ProtoMajor == 3:
		return "3"
	case r.ProtoMinor == 0:
		return "1.0"
	}
	return "1.1"
}

// routeOfPattern returns the path template of a ServeMux pattern
// ("[METHOD ][HOST]/PATH").
func routeOfPattern(p string) string {
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = strings.TrimLeft(p[i+1:], " \t")
	}
	if i := strings.IndexByte(p, '/'); i > 0 {
		p = p[i:]
	}
	return p
}
