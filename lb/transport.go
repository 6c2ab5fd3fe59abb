package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/internal/otelx"
)

// Transport is an http.RoundTripper "smart client": every request goes to
// an endpoint its Balancer picks, the request URL's scheme and host are
// replaced by the endpoint's, idempotent requests that fail (connection
// errors, or a retryable status) are retried on another endpoint, and
// every attempt's latency, bytes and outcome are fed back to the Balancer
// when the response body is closed.
//
//	client := &http.Client{Transport: &lb.Transport{Balancer: users}}
//	resp, err := client.Get("http://users/v1/users/42") // "users" is a logical name
//
// A request is idempotent when its method is GET, HEAD, OPTIONS, TRACE,
// PUT or DELETE or it carries an Idempotency-Key header, and its body can
// be sent again (no body, or Request.GetBody set, as http.NewRequest does
// for in-memory bodies).
//
// Draining: once endpoints leave the Balancer, the next request closes the
// base transport's idle keep-alive connections (if it has
// CloseIdleConnections), so removed endpoints are not held open.
//
// A Transport is safe for concurrent use once its fields are set and must
// not be copied after first use; the zero value is not usable (Balancer is
// required).
type Transport struct {
	// Balancer picks the endpoints. Required.
	Balancer *Balancer
	// Base sends each attempt (default: an http.Transport owned by this
	// Transport, so that draining never touches the process-wide default's
	// connections, with http.DefaultTransport's timeouts and
	// UpstreamIdleConnsPerHost idle connections per endpoint).
	Base http.RoundTripper
	// Scheme is the scheme used to reach endpoints (default "http").
	Scheme string
	// PreserveHost keeps the request's Host header instead of using the
	// endpoint address (for virtual-hosted backends).
	PreserveHost bool
	// MaxAttempts bounds the attempts of an idempotent request, each on a
	// different endpoint when possible (default 3; 1 disables retries).
	MaxAttempts int
	// Key gives hash policies their affinity key (default none).
	Key KeyFunc
	// RetryStatus reports whether a response status is retried for
	// idempotent requests (default 502, 503 and 504).
	RetryStatus func(status int) bool
	// FailureStatus reports whether a status counts as a failure of the
	// endpoint for outlier detection and breakers (default ≥ 500).
	FailureStatus func(status int) bool
	// TracerProvider receives an lb.RoundTrip client span per request
	// (scalekit.name is the Balancer's Name; an event per attempt names
	// the endpoint). Default the global provider.
	TracerProvider trace.TracerProvider

	forProxy   bool // set by NewReverseProxy: the default base does no gzip
	sticky     bool // set by NewReverseProxy: requests may carry a pickNote
	startOpts  []trace.SpanStartOption
	seen       atomic.Uint64 // Balancer.removals when idle connections were last closed
	baseOnce   sync.Once
	own        http.RoundTripper
	tracerOnce sync.Once
	tracer     trace.Tracer
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	t.baseOnce.Do(func() { t.own = upstreamTransport(t.forProxy) })
	return t.own
}

// StatusError is the error a Transport feeds back to the Balancer
// (DoneInfo.Err) for a response whose status counts as a failure. The
// response itself still reaches the caller.
type StatusError struct {
	// Code is the HTTP status.
	Code int
}

// Error returns "lb: upstream status <code>".
func (e *StatusError) Error() string { return fmt.Sprintf("lb: upstream status %d", e.Code) }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Balancer == nil {
		closeBody(req)
		return nil, errors.New("lb: Transport without a Balancer")
	}
	t.tracerOnce.Do(func() {
		t.tracer = otelx.Tracer(t.TracerProvider, "lb")
		// Built once: options passed per call would allocate per request
		// even when nothing records the span.
		t.startOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(otelx.Name(t.Balancer.opts.Name, "lb"))}
	})
	if !otelx.Tracing(t.TracerProvider) {
		return t.roundTrip(req, nil)
	}
	ctx, span := t.tracer.Start(req.Context(), "lb.RoundTrip", t.startOpts...)
	if !span.IsRecording() {
		span.End()
		return t.roundTrip(req, nil)
	}
	span.SetAttributes(attribute.String("http.request.method", req.Method))
	resp, err := t.roundTrip(req.WithContext(ctx), span)
	if resp != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	}
	otelx.End(span, err)
	return resp, err
}

// attemptEvent records one attempt on the span (nil when not recording).
func attemptEvent(span trace.Span, attempt int, be *Backend, status int, err error) {
	if span == nil {
		return
	}
	attrs := []attribute.KeyValue{attribute.Int("scalekit.lb.attempt", attempt)}
	if host, port, e := net.SplitHostPort(be.Addr()); e == nil {
		p, _ := strconv.Atoi(port)
		attrs = append(attrs, attribute.String("server.address", host), attribute.Int("server.port", p))
	} else {
		attrs = append(attrs, attribute.String("server.address", be.Addr()))
	}
	if status != 0 {
		attrs = append(attrs, attribute.Int("http.response.status_code", status))
	}
	if err != nil {
		attrs = append(attrs, attribute.String("error.type", fmt.Sprintf("%T", err)))
	}
	span.AddEvent("attempt", trace.WithAttributes(attrs...))
}

// roundTrip is RoundTrip's body; span (nil when not recording) receives an
// event per attempt.
func (t *Transport) roundTrip(req *http.Request, span trace.Span) (*http.Response, error) {
	base := t.base()
	t.dropIdle(base)
	attempts := t.MaxAttempts
	if attempts <= 0 {
		attempts = 3
	}
	if !replayable(req) {
		attempts = 1
	}
	var note *pickNote
	if t.sticky { // a context lookup walks the whole chain: only when needed
		note, _ = req.Context().Value(noteKey{}).(*pickNote)
	}
	info := PickInfo{Request: req}
	if t.Key != nil {
		info.Key = t.Key(req)
	}
	if note != nil {
		info.Sticky = note.sticky
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		r, err := t.Balancer.Pick(info)
		if err != nil {
			closeBody(req)
			if lastErr != nil {
				return nil, fmt.Errorf("%w (after %d attempts, last: %v)", err, attempt-1, lastErr)
			}
			return nil, err
		}
		out, err := t.outbound(req, r.Backend, attempt)
		if err != nil {
			r.Done(DoneInfo{})
			return nil, err
		}
		resp, err := base.RoundTrip(&out.req)
		last := attempt >= attempts
		if err != nil {
			attemptEvent(span, attempt, r.Backend, 0, err)
			r.Done(DoneInfo{Err: err})
			if req.Context().Err() != nil || last {
				return nil, err
			}
			lastErr = err
			info.Avoid = append(info.Avoid, r.Backend)
			continue
		}
		attemptEvent(span, attempt, r.Backend, resp.StatusCode, nil)
		var ferr error
		if t.isFailure(resp.StatusCode) {
			ferr = &StatusError{resp.StatusCode}
		}
		if !last && t.isRetryStatus(resp.StatusCode) {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			r.Done(DoneInfo{Err: ferr})
			lastErr = &StatusError{resp.StatusCode}
			info.Avoid = append(info.Avoid, r.Backend)
			continue
		}
		if note != nil {
			note.picked = r.Backend
		}
		db := &out.body // allocated with the request
		db.rc, db.r, db.err = resp.Body, r, ferr
		if rw, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
			// An upgraded connection (WebSocket): the proxy writes to the
			// body too. The call stays in flight until it is closed.
			resp.Body = &doneRWBody{doneBody: db, w: rw}
		} else {
			resp.Body = db
		}
		return resp, nil
	}
}

// dropIdle closes the base transport's idle keep-alive connections once
// after endpoints left the Balancer, so that a removed endpoint is not
// kept open by connections no request will use again. Connections to the
// remaining endpoints are re-dialled on demand.
func (t *Transport) dropIdle(base http.RoundTripper) {
	g, seen := t.Balancer.removals.Load(), t.seen.Load()
	if g == seen || !t.seen.CompareAndSwap(seen, g) {
		return
	}
	if ci, ok := base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// outbound builds the request of one attempt.
func (t *Transport) outbound(req *http.Request, be *Backend, attempt int) (*outReq, error) {
	// A shallow copy: only the URL, Host and Body change, so the headers
	// (a map copy per request in req.Clone) are shared with req. http.Transport
	// never writes to a request's headers.
	c := new(outReq)
	c.req, c.url = *req, *req.URL
	out := &c.req
	out.URL = &c.url
	if attempt > 1 && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("lb: rewind request body: %w", err)
		}
		out.Body = body
	}
	out.URL.Scheme = t.Scheme
	if out.URL.Scheme == "" {
		out.URL.Scheme = "http"
	}
	out.URL.Host = be.Addr()
	if !t.PreserveHost {
		out.Host = ""
	}
	return c, nil
}

// outReq is an outbound request, its URL and (once a response arrives) the
// wrapper of the response body, in one allocation.
type outReq struct {
	req  http.Request
	url  url.URL
	body doneBody
}

func (t *Transport) isRetryStatus(s int) bool {
	if t.RetryStatus != nil {
		return t.RetryStatus(s)
	}
	return s == http.StatusBadGateway || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout
}

func (t *Transport) isFailure(s int) bool {
	if t.FailureStatus != nil {
		return t.FailureStatus(s)
	}
	return s >= 500
}

// replayable reports whether req may be sent again on another endpoint.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete, "":
	default:
		if req.Header.Get("Idempotency-Key") == "" {
			return false
		}
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// doneBody reports the call done when the body is fully read or closed.
type doneBody struct {
	rc   io.ReadCloser
	r    Result
	err  error
	n    atomic.Int64 // bytes; an upgraded body is read and written at once
	once sync.Once
}

func (b *doneBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	if err != nil {
		e := b.err
		if err != io.EOF && e == nil {
			e = err
		}
		b.finish(e)
	}
	return n, err
}

func (b *doneBody) Close() error {
	err := b.rc.Close()
	b.finish(b.err)
	return err
}

func (b *doneBody) finish(err error) {
	b.once.Do(func() { b.r.Done(DoneInfo{Err: err, Bytes: b.n.Load()}) })
}

// doneRWBody is a doneBody over an upgraded, writable connection.
type doneRWBody struct {
	*doneBody
	w io.Writer
}

func (b *doneRWBody) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	b.n.Add(int64(n))
	return n, err
}

// pickNote carries sticky-session state between ReverseProxy and the
// Transport through the request context.
type pickNote struct {
	sticky string
	picked *Backend
}

type noteKey struct{}

func withNote(ctx context.Context, n *pickNote) context.Context {
	return context.WithValue(ctx, noteKey{}, n)
}
