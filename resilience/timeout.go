package resilience

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// TimeoutError is the error of a call that a Timeout's own limit ended.
// It matches ErrTimeout and context.DeadlineExceeded with errors.Is and
// reports Timeout() true, so retry policies treat it as a (retryable)
// failure of the backend rather than as the caller giving up.
type TimeoutError struct {
	// Limit is the limit that fired.
	Limit time.Duration
}

// Error implements error.
func (e *TimeoutError) Error() string { return "resilience: call timed out after " + e.Limit.String() }

// Timeout reports true (net.Error).
func (e *TimeoutError) Timeout() bool { return true }

// Unwrap returns ErrTimeout and context.DeadlineExceeded.
func (e *TimeoutError) Unwrap() []error { return []error{ErrTimeout, context.DeadlineExceeded} }

// TimeoutOptions configure a Timeout. The zero value (or nil) is valid.
type TimeoutOptions struct {
	// Reserve is kept back from the caller's remaining time: the limit of
	// one attempt is min(Limit, time left − Reserve), so that the caller
	// has Reserve left to act on the answer (retry elsewhere, answer its
	// own caller). Default 0.
	Reserve time.Duration
	// Clock times the limit (default real time, where the limit is also a
	// context deadline that the function, and a server reading a
	// propagated deadline, can see).
	Clock clock.Clock
	// Name is the scalekit.name attribute of the metrics. Default
	// "resilience".
	Name string
	// MeterProvider receives scalekit.resilience.timeouts (default global).
	MeterProvider metric.MeterProvider
}

// Timeout bounds each call to Limit, within the caller's own deadline
// (the deadline budget): a call never gets more time than its caller has
// left, less Reserve. When the Timeout's limit fires, the call's context
// is cancelled with a *TimeoutError cause and Execute returns that error;
// when the caller's context ends first, the caller's error is returned
// (and Classify ignores it).
//
// A Timeout is safe for concurrent use. Build it with NewTimeout.
type Timeout struct {
	limit    time.Duration
	reserve  time.Duration
	clk      clock.Clock
	err      *TimeoutError
	timeouts metric.Int64Counter
	attrs    metric.AddOption
}

// NewTimeout returns a Timeout of limit (> 0). A bad limit or option gives
// an error wrapping ErrInvalidOption.
func NewTimeout(limit time.Duration, opts *TimeoutOptions) (*Timeout, error) {
	var o TimeoutOptions
	if opts != nil {
		o = *opts
	}
	if limit <= 0 {
		return nil, optionError("Timeout limit %v ≤ 0", limit)
	}
	if o.Reserve < 0 {
		return nil, optionError("TimeoutOptions.Reserve %v < 0", o.Reserve)
	}
	meter := otelx.Meter(o.MeterProvider, "resilience")
	return &Timeout{
		limit: limit, reserve: o.Reserve, clk: clock.Or(o.Clock), err: &TimeoutError{Limit: limit},
		timeouts: otelx.Must(meter.Int64Counter("scalekit.resilience.timeouts",
			metric.WithDescription("Calls ended by a Timeout's own limit."), metric.WithUnit("{call}"))),
		attrs: metric.WithAttributeSet(attribute.NewSet(otelx.Name(o.Name, "resilience"))),
	}, nil
}

// Remaining returns the time left before ctx's deadline and true, or 0 and
// false when ctx has none.
func Remaining(ctx context.Context) (time.Duration, bool) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	return time.Until(dl), true
}

// Limit returns the limit one call started now under ctx gets:
// min(Limit, Remaining(ctx) − Reserve), or ≤ 0 when nothing is left.
func (t *Timeout) Limit(ctx context.Context) time.Duration {
	d := t.limit
	if left, ok := Remaining(ctx); ok {
		d = min(d, left-t.reserve)
	}
	return d
}

// Start derives the context of one call: it is cancelled with a
// *TimeoutError cause when the limit passes. Call stop when the call
// ends; it reports whether the Timeout's own limit ended the call (and
// counts it).
func (t *Timeout) Start(ctx context.Context) (cctx context.Context, stop func() (timedOut bool)) {
	d := t.Limit(ctx)
	var cancel context.CancelFunc
	if clock.IsReal(t.clk) {
		if d <= 0 {
			c, cancelCause := context.WithCancelCause(ctx)
			cancelCause(t.err)
			cctx, cancel = c, func() {}
		} else {
			cctx, cancel = context.WithTimeoutCause(ctx, d, t.err)
		}
	} else {
		c, cancelCause := context.WithCancelCause(ctx)
		timer := t.clk.AfterFunc(max(d, 0), func() { cancelCause(t.err) })
		cctx, cancel = c, func() { timer.Stop(); cancelCause(context.Canceled) }
	}
	return cctx, func() bool {
		timedOut := ctx.Err() == nil && errors.Is(context.Cause(cctx), ErrTimeout)
		cancel()
		if timedOut {
			t.timeouts.Add(ctx, 1, t.attrs)
		}
		return timedOut
	}
}

// Execute runs fn under the limit. It returns fn's error, replaced by the
// *TimeoutError when the Timeout's own limit ended the call (fn saw its
// context end), or by the caller's context error when the caller's
// context ended.
func (t *Timeout) Execute(ctx context.Context, fn func(context.Context) error) error {
	cctx, stop := t.Start(ctx)
	err := fn(cctx)
	timedOut := stop()
	switch {
	case timedOut && (err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		if err == nil {
			return nil // finished just in time
		}
		return t.err
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}
