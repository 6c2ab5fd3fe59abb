package httpx

import (
	"context"
	"io"
	"net/http"
	"reflect"
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
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/semconv/v1.39.0/httpconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/internal/otelx"
)

// durationBuckets are the semantic conventions' boundaries for
// http.server.request.duration, in seconds.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// maxRecordKeys bounds the cache of metric attribute sets (method ×
// scheme × protocol × status × route); past it, sets are built per request.
const maxRecordKeys = 4096

type recordKey struct {
	method int
	status int
	tls    bool
	proto  string
	route  string
}

type telemetry struct {
	o        TelemetryOptions
	tracer   trace.Tracer
	duration metric.Float64Histogram
	reqSize  metric.Int64Histogram
	respSize metric.Int64Histogram
	active   metric.Int64UpDownCounter
	// activeOpts holds the attribute options of active_requests by method
	// and scheme (0 http, 1 https).
	activeOpts [len(semconvMethods)][2][]metric.AddOption
	// recordOpts caches the attribute options of each recordKey: an
	// immutable map replaced on insert, so lookups take no lock and no
	// allocation.
	recordOpts atomic.Pointer[map[recordKey][]metric.RecordOption]
	mu         sync.Mutex
	// noopTP caches whether the global tracer provider is a no-op, keyed
	// by the provider (nil when TracerProvider was given).
	noopTP atomic.Pointer[tpNoop]
	// givenNoop reports that the TracerProvider given is a no-op.
	givenNoop bool
	startOpts []trace.SpanStartOption // the span kind, preallocated
}

type tpNoop struct {
	tp   trace.TracerProvider
	noop bool
}

// tracerIsNoop reports whether the spans Telemetry starts are known not to
// be sampled: the provider given is a no-op, or none was given and no SDK
// has been installed as the global provider (otel.GetTracerProvider still
// returns the delegating placeholder). It costs an atomic load and an
// interface comparison; the type is inspected once per provider.
func (t *telemetry) tracerIsNoop() bool {
	if t.o.TracerProvider != nil {
		return t.givenNoop
	}
	tp := otel.GetTracerProvider()
	if c := t.noopTP.Load(); c != nil && c.tp == tp {
		return c.noop
	}
	c := &tpNoop{tp: tp, noop: isNoopProvider(tp)}
	t.noopTP.Store(c)
	return c.noop
}

// isNoopProvider reports whether tp is OpenTelemetry's no-op provider or
// the global placeholder that no SDK has replaced.
func isNoopProvider(tp trace.TracerProvider) bool {
	typ := reflect.TypeOf(tp)
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ.PkgPath() {
	case "go.opentelemetry.io/otel/internal/global", "go.opentelemetry.io/otel/trace/noop":
		return true
	case "go.opentelemetry.io/otel/trace":
		return strings.HasPrefix(typ.Name(), "noop")
	}
	return false
}

func newTelemetry(opts *TelemetryOptions) *telemetry {
	var o TelemetryOptions
	if opts != nil {
		o = *opts
	}
	meter := otelx.Meter(o.MeterProvider, "httpx")
	t := &telemetry{
		o:        o,
		tracer:   otelx.Tracer(o.TracerProvider, "httpx"),
		duration: otelx.Must(httpconv.NewServerRequestDuration(meter, metric.WithExplicitBucketBoundaries(durationBuckets...))).Inst(),
		reqSize:  otelx.Must(httpconv.NewServerRequestBodySize(meter)).Inst(),
		respSize: otelx.Must(httpconv.NewServerResponseBodySize(meter)).Inst(),
		active:   otelx.Must(httpconv.NewServerActiveRequests(meter)).Inst(),
	}
	for i := range semconvMethods {
		for s, tls := range []bool{false, true} {
			t.activeOpts[i][s] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(methodAttr(i), schemeAttr(tls)))}
		}
	}
	t.startOpts = []trace.SpanStartOption{serverKind}
	if o.TracerProvider != nil {
		t.givenNoop = isNoopProvider(o.TracerProvider)
	}
	empty := map[recordKey][]metric.RecordOption{}
	t.recordOpts.Store(&empty)
	return t
}

func (t *telemetry) recordOptions(k recordKey) []metric.RecordOption {
	if opts, ok := (*t.recordOpts.Load())[k]; ok {
		return opts
	}
	opts := []metric.RecordOption{metric.WithAttributeSet(metricAttrs(k))}
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

// spanStart is the per-request buffer of span start options and
// attributes, pooled: a tracer copies them in Start.
type spanStart struct {
	attrs [16]attribute.KeyValue
	opts  [2]trace.SpanStartOption
}

var spanStartPool = sync.Pool{New: func() any { return new(spanStart) }}

var serverKind = trace.WithSpanKind(trace.SpanKindServer)

// countingBody counts the bytes of the request body the handler reads.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (t *telemetry) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	start := time.Now()
	st, r := requestState(r)
	prop := t.o.Propagator
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	mi := methodIndex(r.Method)
	tls := 0
	if r.TLS != nil {
		tls = 1
	}
	t.active.Add(ctx, 1, t.activeOpts[mi][tls]...)

	name := semconvMethods[mi]
	if r.Pattern != "" {
		name += " " + routeOfPattern(r.Pattern)
	}
	var span trace.Span
	if t.tracerIsNoop() {
		// No SDK: nothing would read the attributes; set them after all
		// if the span records anyway (automatic instrumentation).
		ctx, span = t.tracer.Start(ctx, name, t.startOpts...)
		if span.IsRecording() {
			span.SetAttributes(spanStartAttrs(nil, r, mi)...)
		}
	} else {
		// The attributes go to Start, where samplers can see them.
		ss := spanStartPool.Get().(*spanStart)
		attrs := spanStartAttrs(ss.attrs[:0], r, mi)
		ss.opts[0], ss.opts[1] = serverKind, trace.WithAttributes(attrs...)
		ctx, span = t.tracer.Start(ctx, name, ss.opts[:]...)
		clear(attrs)
		ss.opts[1] = nil
		spanStartPool.Put(ss)
	}

	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{ReadCloser: r.Body}
		r.Body = body
	}
	if span.IsRecording() || span.SpanContext().IsValid() {
		r = r.WithContext(ctx) // otherwise the span is a no-op: keep the request
	}
	rw := wrapWriter(w)
	defer t.finish(ctx, span, st, rw, r, body, mi, tls, start)
	next.ServeHTTP(rw, r)
}

// finish ends the span and records the metrics; it is deferred so that a
// panic is recorded as a 500 before it continues up.
func (t *telemetry) finish(ctx context.Context, span trace.Span, st *reqCtx, rw *responseWriter, r *http.Request,
	body *countingBody, mi, tls int, start time.Time) {
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
	var read int64
	if body != nil {
		read = body.n
	}
	if span.IsRecording() {
		t.endAttrs(span, st, route, code, read, rw.bytes, mi)
		switch {
		case v != nil:
			span.SetStatus(codes.Error, "panic")
		case code < 100 || code >= 600:
			span.SetStatus(codes.Error, "Invalid HTTP status code "+strconv.Itoa(code))
		case code >= 500:
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
	opts := t.recordOptions(recordKey{method: mi, status: code, tls: tls == 1, proto: r.Proto, route: route})
	t.reqSize.Record(ctx, read, opts...)
	t.respSize.Record(ctx, rw.bytes, opts...)
	t.duration.Record(ctx, float64(time.Since(start))/float64(time.Second), opts...)
	t.active.Add(ctx, -1, t.activeOpts[mi][tls]...)
	if v != nil {
		panic(v)
	}
}

// endAttrs names a recording span after its route and sets the attributes
// known once the handler has answered.
func (t *telemetry) endAttrs(span trace.Span, st *reqCtx, route string, code int, read, written int64, mi int) {
	a := make([]attribute.KeyValue, 0, 6)
	if read > 0 {
		a = append(a, semconv.HTTPRequestBodySize(int(read)))
	}
	if written > 0 {
		a = append(a, semconv.HTTPResponseBodySize(int(written)))
	}
	a = append(a, semconv.HTTPResponseStatusCode(code))
	if code >= 500 {
		a = append(a, semconv.ErrorTypeKey.String(strconv.Itoa(code)))
	}
	if route != "" {
		span.SetName(semconvMethods[mi] + " " + route)
		a = append(a, semconv.HTTPRoute(route))
	}
	if st.id != "" {
		a = append(a, attribute.String("scalekit.httpx.request_id", st.id))
	}
	span.SetAttributes(a...)
}
