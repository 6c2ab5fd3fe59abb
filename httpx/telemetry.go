package httpx

import (
	"context"
	"net/http"
	"strconv"
	"strings"
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

// routeSlot is where SetRoute and Routes leave the matched route for
// Telemetry, which installs one per request.
type routeSlot struct{ route string }

const routeKey ctxKey = 100

// SetRoute records the route template of the request being served, for
// Telemetry's span name and http.route attribute. Call it from a handler
// or router adapter; without Telemetry it does nothing.
func SetRoute(ctx context.Context, route string) {
	if s, ok := ctx.Value(routeKey).(*routeSlot); ok {
		s.route = route
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
	tracer := otelx.Tracer(o.TracerProvider, "httpx")
	meter := otelx.Meter(o.MeterProvider, "httpx")
	duration := otelx.Must(meter.Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)))
	active := otelx.Must(meter.Int64UpDownCounter("http.server.active_requests",
		metric.WithUnit("{request}"), metric.WithDescription("Number of HTTP server requests in flight.")))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if o.Skip != nil && o.Skip(r) {
				next.ServeHTTP(w, r)
				return
			}
			prop := o.Propagator
			if prop == nil {
				prop = otel.GetTextMapPropagator()
			}
			ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			method := semconvMethod(r.Method)
			methodAttr := attribute.String("http.request.method", method)
			activeSet := metric.WithAttributeSet(attribute.NewSet(methodAttr))
			active.Add(ctx, 1, activeSet)
			slot := &routeSlot{}
			ctx = context.WithValue(ctx, routeKey, slot)
			ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer))
			if span.IsRecording() {
				span.SetAttributes(methodAttr,
					attribute.String("url.path", r.URL.Path),
					attribute.String("url.scheme", scheme(r)),
					attribute.String("server.address", r.Host),
					attribute.String("client.address", r.RemoteAddr),
					attribute.String("user_agent.original", r.UserAgent()),
					attribute.String("network.protocol.version", protoVersion(r)))
				if id := RequestIDFrom(ctx); id != "" {
					span.SetAttributes(attribute.String("http.request.id", id))
				}
			}
			rw := wrapWriter(w)
			start := time.Now()
			r2 := r.WithContext(ctx)
			defer func() {
				v := recover()
				st := rw.status
				if st == 0 {
					st = http.StatusOK
					if v != nil {
						st = http.StatusInternalServerError
					}
				}
				route := slot.route
				if route == "" && r2.Pattern != "" {
					route = routeOfPattern(r2.Pattern)
				}
				if route == "" && o.Route != nil {
					route = o.Route(r)
				}
				stAttr := attribute.Int("http.response.status_code", st)
				if route != "" {
					span.SetName(method + " " + route)
					span.SetAttributes(attribute.String("http.route", route))
				}
				span.SetAttributes(stAttr)
				if st >= 500 {
					span.SetStatus(codes.Error, strconv.Itoa(st))
				}
				if v != nil {
					span.SetStatus(codes.Error, "panic")
				}
				span.End()
				var set attribute.Set
				if route != "" {
					set = attribute.NewSet(methodAttr, stAttr, attribute.String("http.route", route))
				} else {
					set = attribute.NewSet(methodAttr, stAttr)
				}
				duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributeSet(set))
				active.Add(ctx, -1, activeSet)
				if v != nil {
					panic(v)
				}
			}()
			next.ServeHTTP(rw, r2)
		})
	}
}

// semconvMethod maps non-standard methods to "_OTHER" so a client cannot
// blow up metric cardinality.
func semconvMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
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
