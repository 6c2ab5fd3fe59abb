package httpx

import (
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// TransportOptions configure NewTransport. The zero value (or nil) gives
// retries and per-host breakers with their defaults, no timeouts and no
// hedging.
type TransportOptions struct {
	// Timeout bounds a whole call: every attempt, the waits between them
	// and reading the response body (0 means none; the caller's context
	// still applies).
	Timeout time.Duration
	// AttemptTimeout bounds each attempt, body included (0 means none). An
	// attempt that times out counts as a breaker failure and is retried.
	AttemptTimeout time.Duration
	// DeadlineHeader, when set, makes each attempt carry its remaining time
	// budget in that header (see ClientTimeoutOptions.DeadlineHeader);
	// "X-Request-Timeout" is what the server-side Timeout middleware reads.
	DeadlineHeader string
	// Retry configures RetryTransport (nil means its defaults).
	Retry *RetryOptions
	// NoRetry leaves RetryTransport out.
	NoRetry bool
	// Breaker configures the per-host BreakerTransport (nil means its
	// defaults).
	Breaker *BreakerOptions
	// NoBreaker leaves the breakers out.
	NoBreaker bool
	// Hedge, when set, adds HedgeTransport under each attempt.
	Hedge *HedgeOptions
	// Clock is used by every layer whose own options name none (default
	// real time). The breakers always use real time (gobreaker has no
	// clock option).
	Clock clock.Clock
	// MeterProvider is used by every layer whose own options name none
	// (default global).
	MeterProvider metric.MeterProvider
	// TracerProvider is used by every layer whose own options name none
	// (default global). Each send gets an HTTP client span (from otelhttp,
	// following the HTTP semantic conventions, the trace context injected
	// into the request headers) under the httpx.Retry and httpx.Hedge
	// spans.
	TracerProvider trace.TracerProvider
	// Propagator injects the trace context into each send (default
	// otel.GetTextMapPropagator()).
	Propagator propagation.TextMapPropagator
	// NoTracing leaves out the per-send otelhttp client spans and their
	// http.client.* metrics.
	NoTracing bool
	// Name is the scalekit.name of every layer whose own options name
	// none (default "httpx").
	Name string
}

// Transport is the composed client stack built by NewTransport. It is an
// http.RoundTripper, safe for concurrent use; use it as the Transport of an
// http.Client.
type Transport struct {
	rt      http.RoundTripper
	breaker *BreakerTransport
}

// NewTransport wraps next (nil means http.DefaultTransport) in the client
// stack, outermost first:
//
//	ClientTimeout(Timeout)       — the whole call, retries included
//	RetryTransport               — backoff, budget, Retry-After, idempotency
//	BreakerTransport             — per host; fails fast, never retried
//	ClientTimeout(AttemptTimeout)— each attempt
//	HedgeTransport               — optional, within an attempt
//	otelhttp.Transport           — a client span per send (unless NoTracing)
//	next
//
// The order keeps each layer's promise: a breaker rejection reaches the
// retry layer as a *BreakerError and is returned at once; an attempt
// timeout is a backend failure for the breaker and a retryable error for
// the retry layer; the caller's own deadline (or Timeout) is neither. Bad
// options give an error wrapping ErrInvalidClientOption.
func NewTransport(next http.RoundTripper, opts *TransportOptions) (*Transport, error) {
	var o TransportOptions
	if opts != nil {
		o = *opts
	}
	rt := clientOr(next)
	if !o.NoTracing {
		topts := []otelhttp.Option{otelhttp.WithMeterProvider(otelx.MeterProviderOr(o.MeterProvider))}
		if o.TracerProvider != nil {
			topts = append(topts, otelhttp.WithTracerProvider(o.TracerProvider))
		}
		if o.Propagator != nil {
			topts = append(topts, otelhttp.WithPropagators(o.Propagator))
		}
		rt = clientTraced{RoundTripper: otelhttp.NewTransport(rt, topts...), next: rt}
	}
	var err error
	if o.Hedge != nil {
		h := *o.Hedge
		if h.Clock == nil {
			h.Clock = o.Clock
		}
		if h.MeterProvider == nil {
			h.MeterProvider = o.MeterProvider
		}
		if h.TracerProvider == nil {
			h.TracerProvider = o.TracerProvider
		}
		if h.Name == "" {
			h.Name = o.Name
		}
		if rt, err = HedgeTransport(rt, &h); err != nil {
			return nil, err
		}
	}
	if rt, err = ClientTimeout(rt, o.AttemptTimeout, &ClientTimeoutOptions{Clock: o.Clock, DeadlineHeader: o.DeadlineHeader}); err != nil {
		return nil, err
	}
	t := &Transport{}
	if !o.NoBreaker {
		var b BreakerOptions
		if o.Breaker != nil {
			b = *o.Breaker
		}
		if b.MeterProvider == nil {
			b.MeterProvider = o.MeterProvider
		}
		if b.Name == "" {
			b.Name = o.Name
		}
		if t.breaker, err = NewBreakerTransport(rt, &b); err != nil {
			return nil, err
		}
		rt = t.breaker
	}
	if !o.NoRetry {
		var r RetryOptions
		if o.Retry != nil {
			r = *o.Retry
		}
		if r.Clock == nil {
			r.Clock = o.Clock
		}
		if r.MeterProvider == nil {
			r.MeterProvider = o.MeterProvider
		}
		if r.TracerProvider == nil {
			r.TracerProvider = o.TracerProvider
		}
		if r.Name == "" {
			r.Name = o.Name
		}
		if rt, err = RetryTransport(rt, &r); err != nil {
			return nil, err
		}
	}
	if rt, err = ClientTimeout(rt, o.Timeout, &ClientTimeoutOptions{Clock: o.Clock}); err != nil {
		return nil, err
	}
	t.rt = rt
	return t, nil
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) { return t.rt.RoundTrip(req) }

// Breaker returns the per-host breakers (for State and Counts), or nil when
// the stack was built with NoBreaker.
func (t *Transport) Breaker() *BreakerTransport { return t.breaker }

// CloseIdleConnections forwards to the innermost transport, so that
// http.Client.CloseIdleConnections works through the stack.
func (t *Transport) CloseIdleConnections() { clientCloseIdle(t.rt) }

// clientTraced is otelhttp's Transport with CloseIdleConnections forwarded
// to the transport it wraps (otelhttp's does not forward it).
type clientTraced struct {
	http.RoundTripper
	next http.RoundTripper
}

// CloseIdleConnections forwards to the wrapped transport.
func (t clientTraced) CloseIdleConnections() { clientCloseIdle(t.next) }
