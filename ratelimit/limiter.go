package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/ratelimit/driver"
)

// Limit configures a limiter; see driver.Limit.
type Limit = driver.Limit

// Algorithm names a rate-limiting algorithm; see driver.Algorithm.
type Algorithm = driver.Algorithm

// Decision is the outcome of one Allow call; see driver.Decision.
type Decision = driver.Decision

// The algorithms, re-exported from package driver.
const (
	TokenBucket   = driver.TokenBucket
	LeakyBucket   = driver.LeakyBucket
	FixedWindow   = driver.FixedWindow
	SlidingLog    = driver.SlidingLog
	SlidingWindow = driver.SlidingWindow
	GCRA          = driver.GCRA
)

// FailurePolicy says what Allow does when the backend cannot decide (its
// Allow returns an error other than a context error) and no Fallback is set.
type FailurePolicy int

const (
	// FailError returns the backend's error, wrapped with ErrUnavailable,
	// and a denied decision. It is the zero value.
	FailError FailurePolicy = iota
	// FailOpen admits the request and returns no error.
	FailOpen
	// FailClosed denies the request (RetryAfter = Options.FailRetryAfter)
	// and returns no error.
	FailClosed
)

// Options configure a Limiter. The zero value (or nil) is valid.
type Options struct {
	// Failure is the policy applied when the backend fails. Default FailError.
	Failure FailurePolicy
	// Fallback, when set, decides instead of the failed backend (for
	// example a memrate limiter standing in while Redis is unreachable);
	// Failure then applies only if Fallback fails too.
	Fallback *Limiter
	// FailRetryAfter is the RetryAfter of decisions denied by FailClosed
	// or FailError. Default 1s.
	FailRetryAfter time.Duration
	// Clock is used by Wait to sleep. Default the driver's clock if it has
	// one (a Clock() clock.Clock method, as memrate and redisrate have),
	// else real time.
	Clock clock.Clock
	// MeterProvider receives the decisions counter. Default the global one.
	MeterProvider metric.MeterProvider
	// Name is recorded as the scalekit.name attribute of metrics and
	// spans, so two limiters in one service never merge. Default
	// "ratelimit"; the algorithm is the scalekit.ratelimit.algorithm
	// attribute.
	Name string
}

// Limiter is a keyed rate limiter over a backend (memrate, redisrate, or any
// driver.Limiter). It validates arguments, records metrics, applies the
// failure policy and implements Wait on top of the backend's Allow.
//
// A Limiter is safe for concurrent use. The zero value is not usable; create
// one with New.
type Limiter struct {
	d        driver.Limiter
	lim      Limit
	capacity int // lim.Capacity()
	clk      clock.Clock
	policy   FailurePolicy
	fallback *Limiter
	failWait time.Duration

	decisions                 metric.Int64Counter
	allowedOpt, deniedOpt     []metric.AddOption
	failOpenOpt, failCloseOpt []metric.AddOption
	fallbackOpt, errorOpt     []metric.AddOption
	failures                  metric.Int64Counter
}

// New returns a Limiter over the backend d, which must enforce a valid
// Limit. New does no I/O.
func New(d driver.Limiter, opts *Options) (*Limiter, error) {
	if d == nil {
		return nil, errors.New("ratelimit: nil driver")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	lim := d.Limit()
	if err := Validate(lim); err != nil {
		return nil, err
	}
	if o.FailRetryAfter <= 0 {
		o.FailRetryAfter = time.Second
	}
	if c, ok := d.(interface{ Clock() clock.Clock }); ok && o.Clock == nil {
		o.Clock = c.Clock() // a backend's injected clock also drives Wait
	}
	meter := otelx.Meter(o.MeterProvider, "ratelimit")
	l := &Limiter{
		d: d, lim: lim, capacity: lim.Capacity(), clk: clock.Or(o.Clock), policy: o.Failure,
		fallback: o.Fallback, failWait: o.FailRetryAfter,
		decisions: otelx.Must(meter.Int64Counter("scalekit.ratelimit.decisions",
			metric.WithUnit("{decision}"), metric.WithDescription("Rate-limit decisions, by outcome."))),
		failures: otelx.Must(meter.Int64Counter("scalekit.ratelimit.backend_failures",
			metric.WithUnit("{failure}"), metric.WithDescription("Backend failures, by the policy applied."))),
	}
	name := otelx.Name(o.Name, "ratelimit")
	alg := attribute.String("scalekit.ratelimit.algorithm", lim.Algorithm.String())
	opt := func(k, v string) []metric.AddOption {
		return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(name, alg, attribute.String(k, v)))}
	}
	const dec, pol = "scalekit.ratelimit.decision", "scalekit.ratelimit.policy"
	l.allowedOpt, l.deniedOpt = opt(dec, "allowed"), opt(dec, "denied")
	l.failOpenOpt, l.failCloseOpt = opt(pol, "open"), opt(pol, "closed")
	l.fallbackOpt, l.errorOpt = opt(pol, "fallback"), opt(pol, "error")
	return l, nil
}

// Limit returns the limit the Limiter enforces.
func (l *Limiter) Limit() Limit { return l.lim }

// Allow decides whether n units for key are admitted now and records them if
// they are. Bad input returns ErrEmptyKey, ErrInvalidN or ErrExceedsCapacity.
// When the backend fails, the Fallback limiter or the failure policy decides.
//
// For LeakyBucket an admitted decision reserves a paced slot: the caller
// must wait Decision.Delay before acting (Wait does this).
func (l *Limiter) Allow(ctx context.Context, key string, n int) (Decision, error) {
	if key == "" || n < 1 || n > l.capacity {
		return Decision{}, checkArgs(l.lim, key, n)
	}
	d, err := l.d.Allow(ctx, key, n)
	if err != nil {
		return l.failed(ctx, key, n, err)
	}
	if d.Allowed {
		l.decisions.Add(ctx, 1, l.allowedOpt...)
	} else {
		l.decisions.Add(ctx, 1, l.deniedOpt...)
	}
	return d, nil
}

func (l *Limiter) failed(ctx context.Context, key string, n int, err error) (Decision, error) {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return Decision{}, ctxErr
	}
	if l.fallback != nil {
		if n <= l.fallback.lim.Capacity() {
			if d, ferr := l.fallback.Allow(ctx, key, n); ferr == nil {
				l.failures.Add(ctx, 1, l.fallbackOpt...)
				return d, nil
			}
		}
	}
	c := l.lim.Capacity()
	switch l.policy {
	case FailOpen:
		l.failures.Add(ctx, 1, l.failOpenOpt...)
		l.decisions.Add(ctx, 1, l.allowedOpt...)
		return Decision{Allowed: true, Limit: c, Remaining: c - n}, nil
	case FailClosed:
		l.failures.Add(ctx, 1, l.failCloseOpt...)
		l.decisions.Add(ctx, 1, l.deniedOpt...)
		return Decision{Limit: c, RetryAfter: l.failWait, ResetAfter: l.failWait}, nil
	}
	l.failures.Add(ctx, 1, l.errorOpt...)
	return Decision{Limit: c, RetryAfter: l.failWait, ResetAfter: l.failWait},
		fmt.Errorf("%w: allow %q: %w", ErrUnavailable, key, err)
}

// Wait blocks until n units for key are admitted, ctx ends, or it is clear
// the units cannot be admitted before ctx's deadline. In the last case it
// returns ErrWouldExceedDeadline at once, without sleeping. On cancellation
// it returns ctx.Err().
//
// For LeakyBucket, Wait also sleeps the admitted decision's Delay; if that
// delay passes the deadline the reserved slot is not returned.
func (l *Limiter) Wait(ctx context.Context, key string, n int) error {
	if err := checkArgs(l.lim, key, n); err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := l.Allow(ctx, key, n)
		if err != nil {
			return err
		}
		wait := d.RetryAfter
		if d.Allowed {
			wait = d.Delay
		}
		if wait <= 0 {
			if d.Allowed {
				return nil
			}
			wait = time.Millisecond // backend said retry now; avoid a hot loop
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return fmt.Errorf("%w: need %v for %q", ErrWouldExceedDeadline, wait, key)
		}
		if err := clock.Sleep(ctx, l.clk, wait); err != nil {
			return err
		}
		if d.Allowed {
			return nil
		}
	}
}
