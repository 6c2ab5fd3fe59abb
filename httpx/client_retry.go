package httpx

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/resilience"
)

// RetryDefaultStatuses are the response statuses RetryTransport retries by
// default: the backend or a proxy in front of it is overloaded or briefly
// unreachable, so the same request may well succeed a moment later. Treat it
// as read-only; set RetryOptions.Statuses to change the list.
var RetryDefaultStatuses = []int{
	http.StatusTooManyRequests,    // 429
	http.StatusBadGateway,         // 502
	http.StatusServiceUnavailable, // 503
	http.StatusGatewayTimeout,     // 504
}

// RetryOptions configure RetryTransport. The zero value (or nil) is valid:
// 3 attempts, backoff from 100ms doubling up to 2s with full jitter,
// Retry-After honoured up to 10s, a private RetryBudget with its defaults,
// RetryDefaultStatuses and connection errors retried.
type RetryOptions struct {
	// MaxAttempts is the number of sends per request, the first included
	// (default 3; 1 disables retries). Must be ≥ 0.
	MaxAttempts int
	// InitialBackoff is the ceiling of the first delay (default 100ms).
	// Delays are full-jitter: uniform in [0, ceiling], the ceiling growing
	// by Multiplier (default 2) up to MaxBackoff (default 2s).
	InitialBackoff time.Duration
	// MaxBackoff caps the backoff ceiling (default 2s).
	MaxBackoff time.Duration
	// Multiplier grows the ceiling per retry (default 2; must be 0 or ≥ 1).
	Multiplier float64
	// MaxRetryAfter caps how long a Retry-After header may make the client
	// wait (default 10s). A response asking for longer is returned to the
	// caller as is rather than retried early.
	MaxRetryAfter time.Duration
	// Budget limits retries across requests; nil gives this transport its
	// own budget with the RetryBudgetOptions defaults. Share one budget
	// between the transports that call the same backend.
	Budget *RetryBudget
	// Statuses replaces RetryDefaultStatuses.
	Statuses []int
	// Retryable, when set, replaces the default decision (Statuses, and
	// errors other than cancellation, breaker rejections and certificate
	// failures). It sees every failed or successful attempt; resp is nil
	// when err is not. Idempotency, the budget, MaxAttempts and the context
	// still apply.
	Retryable func(resp *http.Response, err error) bool
	// Clock times the backoff waits. Default real time.
	Clock clock.Clock
	// MeterProvider receives scalekit.httpx.client.retries. Default global.
	MeterProvider metric.MeterProvider
	// TracerProvider receives the httpx.Retry span of each call that may
	// be retried. Default global.
	TracerProvider trace.TracerProvider
	// Name is the scalekit.name attribute of the metrics and spans.
	// Default "httpx".
	Name string
}

// clientRetryRT is the RoundTripper returned by RetryTransport.
type clientRetryRT struct {
	next      http.RoundTripper
	retry     *resilience.Retry
	attempts  int
	budget    *RetryBudget
	statuses  []int
	retryable func(*http.Response, error) bool
	clk       clock.Clock
	retries   metric.Int64Counter
	outcome   map[string]metric.AddOption
	tracer    trace.Tracer
	name      attribute.KeyValue
}

// Outcomes of a retry decision: the scalekit.httpx.outcome attribute of
// scalekit.httpx.client.retries (resilience.Reason values, and one of
// httpx's own).
const (
	clientRetrySent      = string(resilience.ReasonSent)
	clientRetryNoBudget  = string(resilience.ReasonNoBudget)
	clientRetryTooLong   = string(resilience.ReasonTooLong)
	clientRetryNoReplay  = "body_not_replayable"
	clientRetryDeadline  = string(resilience.ReasonDeadline)
	clientRetryExhausted = string(resilience.ReasonExhausted)
)

// outcomeOptions returns the metric option of each outcome, with name.
func outcomeOptions(name attribute.KeyValue, outcomes ...string) map[string]metric.AddOption {
	m := make(map[string]metric.AddOption, len(outcomes))
	for _, o := range outcomes {
		m[o] = metric.WithAttributeSet(attribute.NewSet(name, attribute.String("scalekit.httpx.outcome", o)))
	}
	return m
}

// record counts a retry decision and notes it on the call's span.
func (t *clientRetryRT) record(ctx context.Context, span trace.Span, attempt int, outcome string) {
	t.retries.Add(ctx, 1, t.outcome[outcome])
	span.AddEvent("retry", trace.WithAttributes(attribute.Int("scalekit.httpx.attempt", attempt),
		attribute.String("scalekit.httpx.outcome", outcome)))
}

// RetryTransport returns a RoundTripper that resends failed requests to next
// (nil means http.DefaultTransport) with exponential backoff and full
// jitter.
//
// Only requests that are safe to repeat are retried: idempotent methods
// (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) or any method carrying an
// Idempotency-Key (or X-Idempotency-Key) header, and only when the body can
// be replayed (no body, or GetBody set — http.NewRequest sets it for
// bytes, strings and bytes.Reader bodies). Other requests are sent once.
//
// A retry happens when the status is in Statuses (default 429, 502, 503,
// 504) or the send failed with a connection error — never when the request
// context is done, for a circuit-breaker rejection (*BreakerError) or a
// certificate error. Each retry withdraws a token from the RetryBudget;
// with none left the last answer is returned. A Retry-After header
// (seconds or HTTP-date) lengthens the wait to what the server asked, up to
// MaxRetryAfter; a longer one, or a wait that would end after the context
// deadline, returns the last answer at once. Responses of discarded
// attempts are drained and closed. Cancelling the context stops a wait
// immediately with ctx.Err(). When retries run out, the last response (body
// unread) or error is returned.
//
// The RoundTripper is safe for concurrent use. Bad options give an error
// wrapping ErrInvalidClientOption.
func RetryTransport(next http.RoundTripper, opts *RetryOptions) (http.RoundTripper, error) {
	var o RetryOptions
	if opts != nil {
		o = *opts
	}
	// The counts, durations and their defaults are resilience.NewRetry's,
	// which checks them below; only the statuses are HTTP's own.
	for _, s := range o.Statuses {
		if s < 100 || s > 999 {
			return nil, clientOptionError("RetryOptions.Statuses: %d is not an HTTP status", s)
		}
	}
	if o.Statuses == nil {
		o.Statuses = RetryDefaultStatuses
	}
	clk := clock.Or(o.Clock)
	if o.Budget == nil {
		o.Budget, _ = NewRetryBudget(&RetryBudgetOptions{Clock: clk, Name: cmp.Or(o.Name, "httpx"), MeterProvider: o.MeterProvider})
	}
	retry, err := resilience.NewRetry(&resilience.RetryOptions{
		MaxAttempts: o.MaxAttempts, InitialBackoff: o.InitialBackoff, MaxBackoff: o.MaxBackoff,
		Multiplier: o.Multiplier, MaxRetryAfter: o.MaxRetryAfter, Budget: o.Budget, Clock: clk,
		MeterProvider: noop.NewMeterProvider(), // scalekit.httpx.client.retries counts
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidClientOption, err)
	}
	meter := otelx.Meter(o.MeterProvider, "httpx")
	name := otelx.Name(o.Name, "httpx")
	return &clientRetryRT{
		name:   name,
		tracer: otelx.Tracer(o.TracerProvider, "httpx"),
		outcome: outcomeOptions(name, clientRetrySent, clientRetryNoBudget, clientRetryTooLong,
			clientRetryNoReplay, clientRetryDeadline, clientRetryExhausted),
		next:      clientOr(next),
		retry:     retry,
		attempts:  retry.MaxAttempts(),
		budget:    o.Budget,
		statuses:  slices.Clone(o.Statuses),
		retryable: o.Retryable,
		clk:       clk,
		retries: otelx.Must(meter.Int64Counter("scalekit.httpx.client.retries",
			metric.WithDescription("Retry decisions of RetryTransport, by outcome (sent, or why not)."),
			metric.WithUnit("{retry}"))),
	}, nil
}

// RoundTrip implements http.RoundTripper.
func (t *clientRetryRT) RoundTrip(req *http.Request) (*http.Response, error) {
	t.budget.Deposit()
	if t.attempts <= 1 || !clientIdempotent(req) {
		return t.next.RoundTrip(req)
	}
	ctx, span := t.tracer.Start(req.Context(), "httpx.Retry",
		trace.WithAttributes(t.name, attribute.String("http.request.method", req.Method)))
	if span.IsRecording() {
		req = req.WithContext(ctx) // the attempts' spans are its children
	}
	attempts := 0
	resp, err := t.roundTrip(ctx, span, req, &attempts)
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("scalekit.httpx.attempts", attempts))
		if resp != nil {
			span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		}
	}
	otelx.End(span, err)
	return resp, err
}

// roundTrip is the retry loop of RoundTrip; *attempts counts the sends.
func (t *clientRetryRT) roundTrip(ctx context.Context, span trace.Span, req *http.Request, attempts *int) (*http.Response, error) {
	replayable := clientReplayable(req)
	send := req
	for attempt := 1; ; attempt++ {
		*attempts = attempt
		resp, err := t.next.RoundTrip(send)
		if !t.shouldRetry(ctx, resp, err) {
			return resp, err
		}
		if attempt >= t.attempts {
			t.record(ctx, span, attempt, clientRetryExhausted)
			return resp, err
		}
		if !replayable {
			t.record(ctx, span, attempt, clientRetryNoReplay)
			return resp, err
		}
		var asked time.Duration
		if resp != nil {
			if ra, ok := clientParseRetryAfter(resp.Header.Get("Retry-After"), t.clk.Now()); ok {
				asked = ra
			}
		}
		// The policy decides: the server's wait against MaxRetryAfter, the
		// deadline, then the budget.
		wait, reason := t.retry.Next(ctx, attempt, asked)
		if reason != resilience.ReasonSent {
			t.record(ctx, span, attempt, string(reason))
			return resp, err
		}
		next, cerr := clientCopy(req)
		if cerr != nil { // GetBody failed: the caller gets the last answer
			t.record(ctx, span, attempt, clientRetryNoReplay)
			return resp, err
		}
		clientDiscard(resp)
		t.record(ctx, span, attempt, clientRetrySent)
		if serr := clock.Sleep(ctx, t.clk, wait); serr != nil {
			if next.Body != nil {
				_ = next.Body.Close()
			}
			return nil, serr
		}
		send = next
	}
}

// shouldRetry classifies one attempt.
func (t *clientRetryRT) shouldRetry(ctx context.Context, resp *http.Response, err error) bool {
	if ctx.Err() != nil {
		return false // the caller is gone or out of time: never retry
	}
	if resilience.IsRejection(err) {
		return false // fail fast: a breaker or limiter is protecting the backend
	}
	if t.retryable != nil {
		return t.retryable(resp, err)
	}
	if err != nil {
		return clientRetryableError(err)
	}
	return slices.Contains(t.statuses, resp.StatusCode)
}

// CloseIdleConnections forwards to the wrapped transport.
func (t *clientRetryRT) CloseIdleConnections() { clientCloseIdle(t.next) }

// clientRetryableError reports whether a send error is worth a retry: any
// transport or connection failure (refused, reset, EOF, timeouts, an
// attempt timeout), but not certificate or TLS verification failures, which
// will fail the same way again, and not cancellation.
func clientRetryableError(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ue *url.Error // judge what a nested client's error wraps, not the wrapper
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalidCert      x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalidCert) || errors.As(err, &verify) {
		return false
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), // an attempt timeout below us
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne):
		return true
	}
	// Errors net/http returns as plain strings for a dropped connection.
	msg := err.Error()
	return strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "server closed idle connection") ||
		strings.Contains(msg, "GOAWAY") ||
		strings.Contains(msg, "connection lost")
}

// clientMaxRetryAfter bounds parsed Retry-After values so that arithmetic on
// them cannot overflow (about 292 years would; a day is plenty).
const clientMaxRetryAfter = 24 * time.Hour

// clientParseRetryAfter parses a Retry-After value (RFC 9110 §10.2.3):
// delay-seconds (a non-negative decimal integer) or an HTTP-date, relative to
// now. The result is clamped to [0, 24h]; ok is false for an empty or
// malformed value.
func clientParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
				return clientMaxRetryAfter, true
			}
			return 0, false
		}
		if n >= uint64(clientMaxRetryAfter/time.Second) {
			return clientMaxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > clientMaxRetryAfter:
		return clientMaxRetryAfter, true
	}
	return d, true
}
