package httpx

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/resilience"
)

// BreakerOptions configure NewBreakerTransport. The zero value (or nil) is
// valid: one breaker per URL host, opened by 5 consecutive failures, open
// for 10s, then one half-open probe whose success closes it.
type BreakerOptions struct {
	// Key maps a request to its breaker. Default: req.URL.Host (host, or
	// host:port when the URL names a port). Return "" to bypass breakers.
	Key func(*http.Request) string
	// FailureThreshold is the number of consecutive failures that opens a
	// closed breaker (default 5).
	FailureThreshold uint32
	// ReadyToTrip, when set, replaces FailureThreshold: it is called after
	// every failure in the closed state with the current counts.
	ReadyToTrip func(resilience.Counts) bool
	// Interval is the closed-state period after which the counts reset
	// (default 0: counts reset only on a state change; consecutive-failure
	// counting does not need more).
	Interval time.Duration
	// Timeout is how long a breaker stays open before it lets half-open
	// probes through (default 10s).
	Timeout time.Duration
	// HalfOpenRequests is the number of concurrent half-open probes, and the
	// number of consecutive probe successes that closes the breaker
	// (default 1).
	HalfOpenRequests uint32
	// IsFailure classifies an answer. Default: a send error, or status 500,
	// 502, 503 or 504. Errors caused by the caller's own context (cancelled
	// or past its deadline) are never counted, whatever IsFailure says.
	IsFailure func(resp *http.Response, err error) bool
	// OnStateChange, when set, is called on every transition. It runs under
	// the breaker's lock (keep it short, do not call back into the
	// transport) and possibly from a metrics collection.
	OnStateChange func(key string, from, to resilience.State)
	// MaxHosts bounds the number of breakers (default 1024). Beyond it, a
	// closed breaker is dropped to make room; open and half-open breakers
	// are kept, so the bound is exceeded only while that many hosts fail.
	MaxHosts int
	// MeterProvider receives the breaker metrics (default global).
	MeterProvider metric.MeterProvider
	// Name is the scalekit.name attribute of the metrics, so two
	// BreakerTransports never merge. Default "httpx".
	Name string
}

// BreakerError is returned, without sending the request, when the breaker
// of the request's host is open (it wraps resilience.ErrOpenState, which is
// gobreaker.ErrOpenState) or is half-open with all its probes in flight (it
// wraps resilience.ErrTooManyRequests). RetryTransport never retries it.
type BreakerError struct {
	// Key is the breaker's key (the host by default).
	Key string
	// State is the breaker's state when it refused the request.
	State resilience.State
	// Err is resilience.ErrOpenState or resilience.ErrTooManyRequests.
	Err error
}

// Error implements error.
func (e *BreakerError) Error() string {
	return "httpx: circuit breaker for " + e.Key + " is " + e.State.String() + "; request not sent: " + e.Err.Error()
}

// Unwrap returns the breaker's error and resilience.ErrRejected, so that
// every policy recognises the rejection (resilience.IsRejection).
func (e *BreakerError) Unwrap() []error { return []error{e.Err, resilience.ErrRejected} }

// BreakerTransport is an http.RoundTripper with one circuit breaker
// (resilience.Breaker) per host. A request to a host whose breaker is open
// fails at once with a *BreakerError and is not sent.
//
// The breaker counts only what the backend did, by resilience.Classify: its
// own rejections (and any policy's rejection from below) are not requests
// and never failures, and a send that ends because the caller's context
// was cancelled or ran out is excluded from the counts, so neither
// can hold a breaker open once the backend has recovered. A half-open probe
// always reports back (even if the wrapped transport panics), so a lost
// probe cannot leave a breaker half-open forever. The outcome is decided
// when the response headers arrive; reading the body is not counted.
//
// Metrics: scalekit.httpx.client.breaker.transitions (counter, attributes
// key/from/to), scalekit.httpx.client.breaker.rejections (counter,
// key/state) and scalekit.httpx.client.breaker.state (gauge per key:
// 0 closed, 1 half-open, 2 open).
//
// A BreakerTransport is safe for concurrent use; build it with
// NewBreakerTransport (the zero value is not usable).
type BreakerTransport struct {
	next      http.RoundTripper
	o         BreakerOptions
	settings  resilience.BreakerOptions
	isFailure func(*http.Response, error) bool

	mu       sync.RWMutex
	breakers map[string]*resilience.Breaker

	transitions metric.Int64Counter
	rejections  metric.Int64Counter
	name        attribute.KeyValue
}

// keyAttrs returns the attributes naming breaker key: scalekit.name and the
// key as server.address, any port removed (the semantic conventions keep
// the port in server.port, and the breaker metrics do not need it).
func (t *BreakerTransport) keyAttrs(key string, more ...attribute.KeyValue) metric.MeasurementOption {
	if h, _, err := net.SplitHostPort(key); err == nil {
		key = h
	}
	return metric.WithAttributeSet(attribute.NewSet(append([]attribute.KeyValue{t.name, attribute.String("server.address", key)}, more...)...))
}

// NewBreakerTransport returns a BreakerTransport sending to next (nil means
// http.DefaultTransport). Bad options give an error wrapping
// ErrInvalidClientOption.
func NewBreakerTransport(next http.RoundTripper, opts *BreakerOptions) (*BreakerTransport, error) {
	var o BreakerOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Interval < 0, o.Timeout < 0:
		return nil, clientOptionError("BreakerOptions durations must not be negative")
	case o.MaxHosts < 0:
		return nil, clientOptionError("BreakerOptions.MaxHosts %d < 0", o.MaxHosts)
	}
	if o.FailureThreshold == 0 {
		o.FailureThreshold = 5
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.HalfOpenRequests == 0 {
		o.HalfOpenRequests = 1
	}
	if o.MaxHosts == 0 {
		o.MaxHosts = 1024
	}
	if o.Key == nil {
		o.Key = clientHostKey
	}
	t := &BreakerTransport{
		next:      clientOr(next),
		o:         o,
		isFailure: o.IsFailure,
		breakers:  make(map[string]*resilience.Breaker),
	}
	if t.isFailure == nil {
		t.isFailure = clientDefaultFailure
	}
	meter := otelx.Meter(o.MeterProvider, "httpx")
	t.transitions = otelx.Must(meter.Int64Counter("scalekit.httpx.client.breaker.transitions",
		metric.WithDescription("Circuit breaker state changes, by key, from and to state."),
		metric.WithUnit("{transition}")))
	t.rejections = otelx.Must(meter.Int64Counter("scalekit.httpx.client.breaker.rejections",
		metric.WithDescription("Requests refused by an open or saturated half-open circuit breaker."),
		metric.WithUnit("{request}")))
	t.name = otelx.Name(o.Name, "httpx")
	otelx.Must(0, otelx.RegisterGauge(meter, "scalekit.httpx.client.breaker.state", func() (metric.Observable, error) {
		return meter.Int64ObservableGauge("scalekit.httpx.client.breaker.state",
			metric.WithDescription("Circuit breaker state per key: 0 closed, 1 half-open, 2 open."),
			metric.WithUnit("1"))
	}, otelx.WeakMember(t, (*BreakerTransport).observe)))
	t.settings = resilience.BreakerOptions{
		FailureThreshold: o.FailureThreshold,
		HalfOpenRequests: o.HalfOpenRequests,
		Interval:         o.Interval,
		Timeout:          o.Timeout,
		ReadyToTrip:      o.ReadyToTrip,
		MeterProvider:    noop.NewMeterProvider(), // the httpx instruments below count
		OnStateChange: func(key string, from, to resilience.State) {
			t.transitions.Add(context.Background(), 1, t.keyAttrs(key,
				attribute.String("scalekit.httpx.breaker.from", from.String()),
				attribute.String("scalekit.httpx.breaker.to", to.String())))
			if o.OnStateChange != nil {
				o.OnStateChange(key, from, to)
			}
		},
	}
	return t, nil
}

// clientHostKey is the default breaker key.
func clientHostKey(req *http.Request) string {
	if req.URL != nil && req.URL.Host != "" {
		return req.URL.Host
	}
	return req.Host
}

// clientDefaultFailure counts send errors and the 5xx statuses that mean
// the backend (or its proxy) is failing, not the request.
func clientDefaultFailure(resp *http.Response, err error) bool {
	if err != nil {
		return true
	}
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// breaker returns the breaker for key, creating it when needed.
func (t *BreakerTransport) breaker(key string) *resilience.Breaker {
	t.mu.RLock()
	cb := t.breakers[key]
	t.mu.RUnlock()
	if cb != nil {
		return cb
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if cb = t.breakers[key]; cb != nil {
		return cb
	}
	if len(t.breakers) >= t.o.MaxHosts {
		for k, old := range t.breakers {
			if old.State() == resilience.StateClosed {
				delete(t.breakers, k)
				break
			}
		}
	}
	s := t.settings
	s.Name = key
	cb, _ = resilience.NewBreaker(&s) // options validated by NewBreakerTransport
	t.breakers[key] = cb
	return cb
}

// RoundTrip implements http.RoundTripper.
func (t *BreakerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	key := t.o.Key(req)
	if key == "" {
		return t.next.RoundTrip(req)
	}
	cb := t.breaker(key)
	permit, err := cb.Allow(req.Context())
	if err != nil {
		state := resilience.StateOpen
		if errors.Is(err, resilience.ErrTooManyRequests) {
			state = resilience.StateHalfOpen
		}
		var re *resilience.RejectedError
		if errors.As(err, &re) {
			err = re.Err
		}
		t.rejections.Add(req.Context(), 1, t.keyAttrs(key, attribute.String("scalekit.httpx.breaker.state", state.String())))
		trace.SpanFromContext(req.Context()).AddEvent("breaker rejected", trace.WithAttributes(
			t.name, attribute.String("scalekit.httpx.breaker.state", state.String())))
		return nil, &BreakerError{Key: key, State: state, Err: err}
	}
	reported := false
	defer func() {
		if !reported { // the wrapped transport panicked: free the slot
			permit.Done(resilience.Ignored)
		}
	}()
	resp, err := t.next.RoundTrip(req)
	reported = true
	permit.Done(clientOutcome(req.Context(), resp, err, t.isFailure))
	return resp, err
}

// clientOutcome classifies one send by resilience.Classify: the caller's
// cancellation or deadline and any policy's rejection are ignored; a
// response is judged by isFailure (a 5xx answer is a failure of the
// backend, a 404 a success).
func clientOutcome(ctx context.Context, resp *http.Response, err error, isFailure func(*http.Response, error) bool) resilience.Outcome {
	if err == nil {
		if isFailure(resp, nil) {
			return resilience.Failure
		}
		return resilience.Success
	}
	return resilience.Classify(ctx, err, func(e error) bool { return isFailure(nil, e) })
}

// State returns the state of the breaker for key (StateClosed when there is
// none yet). Reading the state moves an open breaker whose Timeout has passed
// to half-open.
func (t *BreakerTransport) State(key string) resilience.State {
	t.mu.RLock()
	cb := t.breakers[key]
	t.mu.RUnlock()
	if cb == nil {
		return resilience.StateClosed
	}
	return cb.State()
}

// Counts returns the counts of the breaker for key in its current state
// (zero when there is none).
func (t *BreakerTransport) Counts(key string) resilience.Counts {
	t.mu.RLock()
	cb := t.breakers[key]
	t.mu.RUnlock()
	if cb == nil {
		return resilience.Counts{}
	}
	return cb.Counts()
}

// CloseIdleConnections forwards to the wrapped transport.
func (t *BreakerTransport) CloseIdleConnections() { clientCloseIdle(t.next) }

// observe reports the state gauge of every breaker.
func (t *BreakerTransport) observe(_ context.Context, o metric.Observer, inst metric.Observable) {
	gauge := inst.(metric.Int64Observable)
	t.mu.RLock()
	keys := make([]string, 0, len(t.breakers))
	cbs := make([]*resilience.Breaker, 0, len(t.breakers))
	for k, cb := range t.breakers {
		keys = append(keys, k)
		cbs = append(cbs, cb)
	}
	t.mu.RUnlock()
	for i, cb := range cbs { // State may fire OnStateChange: outside t.mu
		o.ObserveInt64(gauge, int64(cb.State()), t.keyAttrs(keys[i]))
	}
}
