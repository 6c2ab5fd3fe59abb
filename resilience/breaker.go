package resilience

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/scalekit-go/scalekit/internal/otelx"
)

// State is a breaker's state. It is gobreaker's type, so its constants
// and its String method are the ones gobreaker users know.
type State = gobreaker.State

// The breaker states.
const (
	StateClosed   = gobreaker.StateClosed
	StateHalfOpen = gobreaker.StateHalfOpen
	StateOpen     = gobreaker.StateOpen
)

// Counts are a breaker's counts in its current generation (since the last
// state change or Interval reset). TotalExclusions counts Ignored calls.
type Counts = gobreaker.Counts

// BreakerOptions configure a Breaker. The zero value (or nil) is valid:
// opened by 5 consecutive failures, open for 10 s, then one half-open
// trial call whose success closes it.
type BreakerOptions struct {
	// Name is the breaker's name: the scalekit.name attribute of its
	// metrics, the name OnStateChange receives and RejectedError.Policy.
	// Default "resilience".
	Name string
	// FailureThreshold is the number of consecutive failures that opens a
	// closed breaker (default 5).
	FailureThreshold uint32
	// ReadyToTrip, when set, replaces FailureThreshold: it is called after
	// every failure in the closed state with the current counts.
	ReadyToTrip func(Counts) bool
	// Interval is the closed-state period after which the counts reset
	// (default 0: only on a state change).
	Interval time.Duration
	// Timeout is how long the breaker stays open before it lets trial
	// calls through (default 10 s). gobreaker keeps its own time, so
	// Timeout follows the real clock.
	Timeout time.Duration
	// HalfOpenRequests is the number of concurrent half-open trial calls,
	// and the number of consecutive trial successes that closes the
	// breaker (default 1).
	HalfOpenRequests uint32
	// IsFailure narrows which errors are failures (see Classify); nil
	// means every error that Classify does not ignore. Used by Execute;
	// Permit.Done callers classify themselves.
	IsFailure func(error) bool
	// OnStateChange, when set, is called on every transition, under the
	// breaker's lock: keep it short and do not call back into the breaker.
	OnStateChange func(name string, from, to State)
	// MeterProvider receives the metrics (default global).
	MeterProvider metric.MeterProvider
}

// Breaker is a circuit breaker (on sony/gobreaker) that counts calls by
// Classify: its own rejections and ignored calls (cancelled, the caller's
// deadline) are never failures, so the breaker cannot hold itself open
// once the backend has recovered, and a cancelled half-open trial call
// frees its slot without closing the breaker.
//
// Use Execute around a function, or Allow and Permit.Done where the call
// starts and ends in different places (a transport, a balancer).
//
// Metrics: scalekit.resilience.breaker.state (gauge: 0 closed, 1
// half-open, 2 open), scalekit.resilience.breaker.transitions,
// scalekit.resilience.breaker.rejections and
// scalekit.resilience.breaker.calls (by outcome).
//
// A Breaker is safe for concurrent use. Build it with NewBreaker; the
// zero value is not usable.
type Breaker struct {
	name      string
	cb        *gobreaker.TwoStepCircuitBreaker[struct{}]
	isFailure func(error) bool

	transitions metric.Int64Counter
	rejections  metric.Int64Counter
	calls       metric.Int64Counter
	attrs       metric.MeasurementOption
	rejOpen     metric.MeasurementOption
	rejHalf     metric.MeasurementOption
	callOpts    [3]metric.MeasurementOption
	counting    bool // calls is a real counter (not no-op): worth the Add
}

// errIgnored and errFailed are the outcomes reported to gobreaker;
// success is nil.
var (
	errIgnored = errors.New("resilience: ignored")
	errFailed  = errors.New("resilience: failed")
)

func optionError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
}

// NewBreaker returns a closed Breaker. Negative durations give an error
// wrapping ErrInvalidOption.
func NewBreaker(opts *BreakerOptions) (*Breaker, error) {
	var o BreakerOptions
	if opts != nil {
		o = *opts
	}
	if o.Interval < 0 || o.Timeout < 0 {
		return nil, optionError("BreakerOptions durations must not be negative")
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
	if o.Name == "" {
		o.Name = "resilience"
	}
	trip := o.ReadyToTrip
	if trip == nil {
		n := o.FailureThreshold
		trip = func(c Counts) bool { return c.ConsecutiveFailures >= n }
	}
	meter := otelx.Meter(o.MeterProvider, "resilience")
	name := otelx.NameKey.String(o.Name)
	_, isNoop := o.MeterProvider.(noop.MeterProvider)
	b := &Breaker{
		name: o.Name, isFailure: o.IsFailure, counting: !isNoop,
		attrs: metric.WithAttributeSet(attribute.NewSet(name)),
		transitions: otelx.Must(meter.Int64Counter("scalekit.resilience.breaker.transitions",
			metric.WithDescription("Circuit breaker state changes, by from and to state."),
			metric.WithUnit("{transition}"))),
		rejections: otelx.Must(meter.Int64Counter("scalekit.resilience.breaker.rejections",
			metric.WithDescription("Calls refused by an open or saturated half-open circuit breaker."),
			metric.WithUnit("{call}"))),
		calls: otelx.Must(meter.Int64Counter("scalekit.resilience.breaker.calls",
			metric.WithDescription("Calls that passed the breaker, by outcome (success, failure, ignored)."),
			metric.WithUnit("{call}"))),
	}
	b.rejOpen = metric.WithAttributeSet(attribute.NewSet(name, attrState.String(StateOpen.String())))
	b.rejHalf = metric.WithAttributeSet(attribute.NewSet(name, attrState.String(StateHalfOpen.String())))
	for _, oc := range []Outcome{Success, Failure, Ignored} {
		b.callOpts[oc] = metric.WithAttributeSet(attribute.NewSet(name, attrOutcome.String(oc.String())))
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         o.Name,
		MaxRequests:  o.HalfOpenRequests,
		Interval:     o.Interval,
		Timeout:      o.Timeout,
		ReadyToTrip:  trip,
		IsExcluded:   func(err error) bool { return err == errIgnored },
		IsSuccessful: func(err error) bool { return err == nil },
		OnStateChange: func(n string, from, to State) {
			b.transitions.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(name,
				attrFrom.String(from.String()), attrTo.String(to.String()))))
			if o.OnStateChange != nil {
				o.OnStateChange(n, from, to)
			}
		},
	})
	otelx.Must(0, otelx.RegisterGauge(meter, "scalekit.resilience.breaker.state", func() (metric.Observable, error) {
		return meter.Int64ObservableGauge("scalekit.resilience.breaker.state",
			metric.WithDescription("Circuit breaker state: 0 closed, 1 half-open, 2 open."), metric.WithUnit("1"))
	}, otelx.WeakMember(b, func(b *Breaker, _ context.Context, ob metric.Observer, inst metric.Observable) {
		ob.ObserveInt64(inst.(metric.Int64Observable), int64(b.State()), b.attrs)
	})))
	return b, nil
}

// Attribute keys of the resilience metrics.
const (
	attrState    = attribute.Key("scalekit.resilience.state")
	attrFrom     = attribute.Key("scalekit.resilience.from")
	attrTo       = attribute.Key("scalekit.resilience.to")
	attrOutcome  = attribute.Key("scalekit.resilience.outcome")
	attrPriority = attribute.Key("scalekit.resilience.priority")
)

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// State returns the breaker's state. Reading it moves an open breaker
// whose Timeout has passed to half-open.
func (b *Breaker) State() State { return b.cb.State() }

// Counts returns the counts of the current generation.
func (b *Breaker) Counts() Counts { return b.cb.Counts() }

// Permit is one call the breaker admitted. Call Done exactly once; the
// zero Permit (from a nil breaker, see Allow) ignores Done.
type Permit struct {
	done func(error)
	b    *Breaker
}

// Allow asks the breaker for one call. It returns a *RejectedError
// wrapping ErrOpenState or ErrTooManyRequests when the breaker refuses;
// the refusal is counted as a rejection and nothing else. A nil *Breaker
// admits every call.
func (b *Breaker) Allow(ctx context.Context) (Permit, error) {
	if b == nil {
		return Permit{}, nil
	}
	done, err := b.cb.Allow()
	if err != nil {
		if errors.Is(err, ErrTooManyRequests) {
			b.rejections.Add(ctx, 1, b.rejHalf)
		} else {
			b.rejections.Add(ctx, 1, b.rejOpen)
		}
		return Permit{}, &RejectedError{Policy: b.name, Err: err}
	}
	return Permit{done: done, b: b}, nil
}

// Done reports the call's outcome (see Classify).
func (p Permit) Done(o Outcome) {
	if p.done == nil {
		return
	}
	switch o {
	case Success:
		p.done(nil)
	case Failure:
		p.done(errFailed)
	default:
		p.done(errIgnored)
		o = Ignored
	}
	if p.b.counting {
		p.b.calls.Add(context.Background(), 1, p.b.callOpts[o])
	}
}

// Execute runs fn if the breaker admits it and counts its outcome by
// Classify(ctx, err, IsFailure). A refusal returns a *RejectedError
// without calling fn. If fn panics, the call is counted as Ignored (its
// trial slot is freed) and the panic continues.
func (b *Breaker) Execute(ctx context.Context, fn func(context.Context) error) error {
	p, err := b.Allow(ctx)
	if err != nil {
		return err
	}
	reported := false
	defer func() {
		if !reported {
			p.Done(Ignored)
		}
	}()
	err = fn(ctx)
	reported = true
	var isFailure func(error) bool
	if b != nil {
		isFailure = b.isFailure
	}
	p.Done(Classify(ctx, err, isFailure))
	return err
}
