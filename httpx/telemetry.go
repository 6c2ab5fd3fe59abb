package httpx

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
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

// Telemetry traces and measures every request with the OpenTelemetry
// contrib instrumentation otelhttp (go.opentelemetry.io/contrib/
// instrumentation/net/http/otelhttp): a server span (the caller's context
// extracted from the headers, attributes following the HTTP semantic
// conventions, status Error on 5xx) and the http.server.request.duration
// (seconds), http.server.request.body.size and
// http.server.response.body.size histograms. On top of otelhttp it names
// the span and labels the metrics with the route template (from Routes,
// SetRoute, the ServeMux pattern or Options.Route), adds the
// http.request.id span attribute, records the http.server.active_requests
// up-down counter, and marks a panicking request's span as a 500 before
// the panic continues up (the duration is not recorded for it: put Recover
// inside Telemetry, as DefaultStack does). The span context is in the
// request context, so outgoing calls and logs join the trace. otelhttp's
// wrappers cost about 5µs and 34 allocations a request even with no SDK
// installed (BenchmarkStack, 2-core VM); NoTelemetry in StackOptions leaves
// Telemetry out.
func Telemetry(opts *TelemetryOptions) Middleware {
	var o TelemetryOptions
	if opts != nil {
		o = *opts
	}
	meter := otelx.Meter(o.MeterProvider, "httpx")
	t := &telemetry{
		o: o,
		active: otelx.Must(meter.Int64UpDownCounter("http.server.active_requests",
			metric.WithUnit("{request}"), metric.WithDescription("Number of HTTP server requests in flight."))),
	}
	for i, m := range semconvMethods {
		t.activeOpts[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("http.request.method", m)))}
	}
	hopts := []otelhttp.Option{
		otelhttp.WithMeterProvider(otelx.MeterProviderOr(o.MeterProvider)),
		otelhttp.WithSpanNameFormatter(spanName),
	}
	if o.TracerProvider != nil {
		hopts = append(hopts, otelhttp.WithTracerProvider(o.TracerProvider))
	}
	if o.Propagator != nil {
		hopts = append(hopts, otelhttp.WithPropagators(o.Propagator))
	}
	return func(next http.Handler) http.Handler {
		h := otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.serve(w, r, next)
		}), "", hopts...)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if t.o.Skip != nil && t.o.Skip(r) {
				next.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

// spanName is the server span's name at its start: the method, and the
// route when the request already matched a ServeMux pattern.
func spanName(_ string, r *http.Request) string {
	m := semconvMethods[methodIndex(r.Method)]
	if c := reqFrom(r.Context()); c != nil && c.route != "" {
		return m + " " + c.route // SetRoute wins over the pattern
	}
	if r.Pattern != "" {
		return m + " " + routeOfPattern(r.Pattern)
	}
	return m
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

type telemetry struct {
	o          TelemetryOptions
	active     metric.Int64UpDownCounter
	activeOpts [len(semconvMethods)][]metric.AddOption
}

// serve runs inside otelhttp's handler: the server span is in r's context.
func (t *telemetry) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	st, r := requestState(r)
	mi := methodIndex(r.Method)
	t.active.Add(r.Context(), 1, t.activeOpts[mi]...)
	defer t.finish(st, r, mi)
	next.ServeHTTP(w, r)
}

// finish names the span and labels the metrics with the route; it is
// deferred so that a panic is recorded as a 500 before it continues up.
func (t *telemetry) finish(st *reqCtx, r *http.Request, mi int) {
	v := recover()
	ctx := r.Context()
	t.active.Add(ctx, -1, t.activeOpts[mi]...)
	route := st.route
	if route == "" && r.Pattern != "" {
		route = routeOfPattern(r.Pattern)
	}
	if route == "" && t.o.Route != nil {
		route = t.o.Route(r)
	}
	if route != "" {
		if l, ok := otelhttp.LabelerFromContext(ctx); ok {
			l.Add(attribute.String("http.route", route))
		}
	}
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		if route != "" {
			span.SetName(semconvMethods[mi] + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		if st.id != "" {
			span.SetAttributes(attribute.String("http.request.id", st.id))
		}
		if v != nil {
			span.SetAttributes(attribute.Int("http.response.status_code", http.StatusInternalServerError))
			span.SetStatus(codes.Error, "panic")
		}
	}
	if v != nil {
		panic(v)
	}
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
