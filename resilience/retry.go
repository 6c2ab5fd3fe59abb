package resilience

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/backoff"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// RetryOptions configure a Retry. The zero value (or nil) is valid: 3
// attempts, full-jitter backoff from 100 ms doubling up to 2 s, a server
// asked wait honoured up to 10 s, and a private RetryBudget with its
// defaults.
type RetryOptions struct {
	// MaxAttempts is the number of attempts per call, the first included
	// (default 3; 1 disables retries). Must be ≥ 0.
	MaxAttempts int
	// InitialBackoff is the ceiling of the first delay (default 100 ms).
	// Delays are uniform in [0, ceiling], the ceiling growing by
	// Multiplier (default 2; must be 0 or ≥ 1) up to MaxBackoff (default
	// 2 s).
	InitialBackoff time.Duration
	// MaxBackoff caps the backoff ceiling (default 2 s).
	MaxBackoff time.Duration
	// Multiplier grows the ceiling per retry (default 2).
	Multiplier float64
	// MaxRetryAfter caps the wait a server may ask for (an HTTP
	// Retry-After, a gRPC RetryInfo, an error with a RetryAfter method):
	// a longer one ends the call with the last error instead (default
	// 10 s).
	MaxRetryAfter time.Duration
	// Budget limits retries across calls; nil gives this Retry its own
	// budget with the RetryBudgetOptions defaults. Share one budget
	// between everything that calls the same backend.
	Budget *RetryBudget
	// Retryable narrows which errors Execute retries. Whatever it says,
	// an error Classify does not count as a Failure (a cancellation, the
	// caller's deadline, a policy's rejection) and a Permanent error are
	// never retried. Default: every other error.
	Retryable func(error) bool
	// Clock times the backoff waits (default real time).
	Clock clock.Clock
	// Name is the scalekit.name attribute of the metrics. Default
	// "resilience".
	Name string
	// MeterProvider receives scalekit.resilience.retries (default global).
	MeterProvider metric.MeterProvider
}

// Reason is a retry decision: ReasonSent, or why a retry did not happen.
// Reasons are the scalekit.resilience.outcome attribute of
// scalekit.resilience.retries.
type Reason string

// The reasons.
const (
	ReasonSent      Reason = "sent"
	ReasonNoBudget  Reason = "budget_exhausted"
	ReasonTooLong   Reason = "retry_after_too_long"
	ReasonDeadline  Reason = "deadline"
	ReasonExhausted Reason = "attempts_exhausted"
)

// Retry is a retry policy: exponential backoff with full jitter, a cap on
// attempts, server-asked waits, and a shared RetryBudget that bounds the
// extra load retries add. Execute runs a function under it; Next is the
// decision step a transport with its own loop calls after each failed
// attempt.
//
// A Retry is safe for concurrent use. Build it with NewRetry.
type Retry struct {
	policy        backoff.Policy
	attempts      int
	maxRetryAfter time.Duration
	budget        *RetryBudget
	retryable     func(error) bool
	clk           clock.Clock
	retries       metric.Int64Counter
	reasons       map[Reason]metric.AddOption
}

// NewRetry returns a Retry. Bad options give an error wrapping
// ErrInvalidOption.
func NewRetry(opts *RetryOptions) (*Retry, error) {
	var o RetryOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.MaxAttempts < 0:
		return nil, optionError("RetryOptions.MaxAttempts %d < 0", o.MaxAttempts)
	case o.InitialBackoff < 0, o.MaxBackoff < 0, o.MaxRetryAfter < 0:
		return nil, optionError("RetryOptions durations must not be negative")
	case o.Multiplier != 0 && !(o.Multiplier >= 1):
		return nil, optionError("RetryOptions.Multiplier %v < 1", o.Multiplier)
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 2 * time.Second
	}
	if o.MaxRetryAfter == 0 {
		o.MaxRetryAfter = 10 * time.Second
	}
	clk := clock.Or(o.Clock)
	if o.Budget == nil {
		o.Budget, _ = NewRetryBudget(&RetryBudgetOptions{Clock: clk, Name: o.Name, MeterProvider: o.MeterProvider})
	}
	meter := otelx.Meter(o.MeterProvider, "resilience")
	name := otelx.Name(o.Name, "resilience")
	r := &Retry{
		policy:        backoff.Policy{Initial: o.InitialBackoff, Max: o.MaxBackoff, Multiplier: o.Multiplier},
		attempts:      o.MaxAttempts,
		maxRetryAfter: o.MaxRetryAfter,
		budget:        o.Budget,
		retryable:     o.Retryable,
		clk:           clk,
		retries: otelx.Must(meter.Int64Counter("scalekit.resilience.retries",
			metric.WithDescription("Retry decisions, by outcome (sent, or why not)."),
			metric.WithUnit("{retry}"))),
		reasons: map[Reason]metric.AddOption{},
	}
	for _, rs := range []Reason{ReasonSent, ReasonNoBudget, ReasonTooLong, ReasonDeadline, ReasonExhausted} {
		r.reasons[rs] = metric.WithAttributeSet(attribute.NewSet(name, attrOutcome.String(string(rs))))
	}
	return r, nil
}

// MaxAttempts returns the number of attempts per call.
func (r *Retry) MaxAttempts() int { return r.attempts }

// Budget returns the retry budget.
func (r *Retry) Budget() *RetryBudget { return r.budget }

// Clock returns the clock that times the waits.
func (r *Retry) Clock() clock.Clock { return r.clk }

// Next decides whether to retry after attempt number attempt (1 for the
// first) failed retryably. serverWait is a wait the server asked for (0
// for none). It returns the wait before the next attempt and ReasonSent,
// or the reason not to retry: the attempts are spent, the server asked
// for more than MaxRetryAfter, the wait would end after ctx's deadline,
// or the budget refused (checked last, so that a refused retry for
// another reason keeps its token). Every decision is counted.
func (r *Retry) Next(ctx context.Context, attempt int, serverWait time.Duration) (time.Duration, Reason) {
	reason, wait := ReasonSent, time.Duration(0)
	switch {
	case attempt >= r.attempts:
		reason = ReasonExhausted
	case serverWait > r.maxRetryAfter:
		reason = ReasonTooLong
	default:
		wait = max(r.policy.Delay(attempt-1), serverWait)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			reason = ReasonDeadline
		} else if !r.budget.Withdraw() {
			reason = ReasonNoBudget
		}
	}
	r.retries.Add(ctx, 1, r.reasons[reason])
	return wait, reason
}

// ShouldRetry reports whether err, the error of an attempt under ctx, may
// be retried: ctx is alive, Classify calls it a Failure, it is not
// Permanent, and Retryable (if set) agrees.
func (r *Retry) ShouldRetry(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || Classify(ctx, err, nil) != Failure {
		return false
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return false
	}
	return r.retryable == nil || r.retryable(err)
}

// Execute calls fn until it succeeds or may not be retried, waiting
// between attempts as Next says. The first attempt deposits into the
// budget. It returns fn's last error (unwrapped from Permanent), or
// ctx.Err() when the context ends during a wait. An error with a
// RetryAfter() time.Duration method asks for that wait.
func (r *Retry) Execute(ctx context.Context, fn func(context.Context) error) error {
	r.budget.Deposit()
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if !r.ShouldRetry(ctx, err) {
			var pe *permanentError
			if errors.As(err, &pe) {
				return pe.err
			}
			return err
		}
		var hint interface{ RetryAfter() time.Duration }
		var serverWait time.Duration
		if errors.As(err, &hint) {
			serverWait = hint.RetryAfter()
		}
		wait, reason := r.Next(ctx, attempt, serverWait)
		if reason != ReasonSent {
			return err
		}
		if serr := clock.Sleep(ctx, r.clk, wait); serr != nil {
			return serr
		}
	}
}

// permanentError marks an error that must not be retried.
type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// Permanent wraps err so that Retry never retries it; Execute returns err
// itself. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}
