package resilience

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// Priority orders calls for load shedding: when the limiter is saturated,
// Low calls are refused first and Critical ones (health checks, control
// calls) are never refused.
type Priority int

// The priorities, lowest first. The zero value is Normal.
const (
	Low      Priority = -1
	Normal   Priority = 0
	High     Priority = 1
	Critical Priority = 2
)

// String returns "low", "normal", "high" or "critical".
func (p Priority) String() string { return priorityNames[p.index()] }

var priorityNames = [4]string{"low", "normal", "high", "critical"}

func (p Priority) index() int { return min(max(int(p), int(Low)), int(Critical)) + 1 }

type priorityKeyT struct{}

var priorityKey priorityKeyT

// WithPriority returns ctx carrying p. Limiters (and httpx's Shed, and
// grpcx's shedding interceptor) read it when nothing else classifies the
// call.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey, p)
}

// PriorityFrom returns the priority in ctx, or Normal.
func PriorityFrom(ctx context.Context) Priority {
	p, _ := ctx.Value(priorityKey).(Priority)
	return p
}

// LimiterOptions configure an AdaptiveLimiter. The zero value (or nil) is
// valid.
type LimiterOptions struct {
	// Algorithm adapts the limit; default &Gradient{}.
	Algorithm LimitAlgorithm
	// Initial, Min and Max bound the limit (defaults 20, 1, 1000).
	Initial, Min, Max int
	// Shares is the fraction of the limit each priority may fill before it
	// is refused, lowest priority shed first. Defaults: Low 0.7, Normal
	// 0.9, High 1.0. Critical is never refused.
	Shares map[Priority]float64
	// IsDropped decides which errors of Execute's function mean overload
	// (the algorithm then treats the sample as congestion). Default:
	// context.DeadlineExceeded and ErrTimeout.
	IsDropped func(error) bool
	// Clock measures latency. Default real time.
	Clock clock.Clock
	// Name is the scalekit.name attribute of the metrics. Default
	// "resilience".
	Name string
	// MeterProvider receives the metrics (default global).
	MeterProvider metric.MeterProvider
}

// AdaptiveLimiter is a latency-driven concurrency limit with priorities.
// Acquire admits a call when the in-flight count is below its priority's
// share of the limit; each Token.Release feeds the call's latency to the
// algorithm, which moves the limit. Refusals are rejections: never
// counted as failures by any policy.
//
// Metrics: scalekit.resilience.limiter.limit (gauge) and
// scalekit.resilience.limiter.rejections (by priority).
//
// An AdaptiveLimiter is safe for concurrent use. Build it with
// NewAdaptiveLimiter.
type AdaptiveLimiter struct {
	clk       clock.Clock
	name      string
	inflight  atomic.Int64
	limit     atomic.Uint64 // float64 bits
	min, max  float64
	shares    [4]float64 // indexed by Priority.index
	isDropped func(error) bool

	mu  sync.Mutex
	alg LimitAlgorithm

	rejections metric.Int64Counter
	rejOpts    [4]metric.AddOption
}

// NewAdaptiveLimiter returns a limiter at its Initial limit. Negative
// bounds, Min above Max, or a share outside (0, ∞) give an error wrapping
// ErrInvalidOption.
func NewAdaptiveLimiter(opts *LimiterOptions) (*AdaptiveLimiter, error) {
	var o LimiterOptions
	if opts != nil {
		o = *opts
	}
	if o.Initial < 0 || o.Min < 0 || o.Max < 0 {
		return nil, optionError("LimiterOptions bounds must not be negative")
	}
	if o.Algorithm == nil {
		o.Algorithm = &Gradient{}
	}
	if o.Min == 0 {
		o.Min = 1
	}
	if o.Max == 0 {
		o.Max = max(1000, o.Min)
	}
	if o.Max < o.Min {
		return nil, optionError("LimiterOptions.Max %d < Min %d", o.Max, o.Min)
	}
	if o.Initial == 0 {
		o.Initial = 20
	}
	o.Initial = min(max(o.Initial, o.Min), o.Max)
	if o.IsDropped == nil {
		o.IsDropped = func(err error) bool {
			return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout)
		}
	}
	l := &AdaptiveLimiter{clk: clock.Or(o.Clock), alg: o.Algorithm, min: float64(o.Min), max: float64(o.Max),
		isDropped: o.IsDropped, name: o.Name}
	if l.name == "" {
		l.name = "resilience"
	}
	l.shares = [4]float64{0.7, 0.9, 1.0, math.Inf(1)}
	for p, s := range o.Shares {
		if !(s > 0) || math.IsInf(s, 0) {
			return nil, optionError("LimiterOptions.Shares[%v] = %v, want > 0", p, s)
		}
		if p >= Low && p <= High {
			l.shares[p.index()] = s
		}
	}
	l.limit.Store(math.Float64bits(float64(o.Initial)))
	meter := otelx.Meter(o.MeterProvider, "resilience")
	name := otelx.NameKey.String(l.name)
	l.rejections = otelx.Must(meter.Int64Counter("scalekit.resilience.limiter.rejections", metric.WithUnit("{call}"),
		metric.WithDescription("Calls refused by the adaptive concurrency limit, by priority.")))
	for i, pn := range priorityNames {
		l.rejOpts[i] = metric.WithAttributeSet(attribute.NewSet(name, attrPriority.String(pn)))
	}
	limitSet := metric.WithAttributeSet(attribute.NewSet(name))
	otelx.Must(0, otelx.RegisterGauge(meter, "scalekit.resilience.limiter.limit", func() (metric.Observable, error) {
		return meter.Float64ObservableGauge("scalekit.resilience.limiter.limit",
			metric.WithUnit("{call}"), metric.WithDescription("Current adaptive concurrency limit."))
	}, otelx.WeakMember(l, func(l *AdaptiveLimiter, _ context.Context, o metric.Observer, inst metric.Observable) {
		o.ObserveFloat64(inst.(metric.Float64Observable), l.Limit(), limitSet)
	})))
	return l, nil
}

// Limit returns the current limit.
func (l *AdaptiveLimiter) Limit() float64 { return math.Float64frombits(l.limit.Load()) }

// InFlight returns the number of admitted calls not yet released.
func (l *AdaptiveLimiter) InFlight() int { return int(l.inflight.Load()) }

// Token is an admitted call; call Release (or Drop) exactly once. The
// zero Token ignores both.
type Token struct {
	l        *AdaptiveLimiter
	start    time.Time
	inflight int
}

// Acquire admits a call of priority p, or returns false when the in-flight
// count has reached p's share of the limit (a rejection, counted on
// scalekit.resilience.limiter.rejections). It never blocks.
func (l *AdaptiveLimiter) Acquire(ctx context.Context, p Priority) (Token, bool) {
	idx := p.index()
	n := l.inflight.Add(1)
	if float64(n) > math.Max(1, l.Limit()*l.shares[idx]) {
		l.inflight.Add(-1)
		l.rejections.Add(ctx, 1, l.rejOpts[idx])
		return Token{}, false
	}
	return Token{l: l, start: l.clk.Now(), inflight: int(n)}, true
}

// Release ends a call that completed normally and feeds its latency to
// the algorithm.
func (t Token) Release() { t.done(false) }

// Drop ends a call that failed from overload (timed out, or a dependency
// refused it), which the algorithm treats as congestion.
func (t Token) Drop() { t.done(true) }

// End ends a call by its outcome: an ignored call (the caller went away)
// only frees its slot, without a latency sample; otherwise dropped says
// whether it failed from overload.
func (t Token) End(o Outcome, dropped bool) {
	if o == Ignored && !dropped {
		if t.l != nil {
			t.l.inflight.Add(-1)
		}
		return
	}
	t.done(dropped)
}

func (t Token) done(dropped bool) {
	l := t.l
	if l == nil {
		return
	}
	rtt := l.clk.Since(t.start)
	l.inflight.Add(-1)
	l.mu.Lock()
	nl := l.alg.Update(l.Limit(), rtt, t.inflight, dropped)
	if math.IsNaN(nl) {
		nl = l.min
	}
	nl = math.Min(math.Max(nl, l.min), l.max)
	l.limit.Store(math.Float64bits(nl))
	l.mu.Unlock()
}

// Execute runs fn if the limiter admits a call of PriorityFrom(ctx), and
// returns a *RejectedError wrapping ErrLimitExceeded otherwise. fn's
// error decides how the sample counts: IsDropped errors are congestion,
// a call the caller cancelled only frees its slot.
func (l *AdaptiveLimiter) Execute(ctx context.Context, fn func(context.Context) error) error {
	tok, ok := l.Acquire(ctx, PriorityFrom(ctx))
	if !ok {
		return &RejectedError{Policy: l.name, Err: ErrLimitExceeded}
	}
	released := false
	defer func() {
		if !released {
			tok.End(Ignored, false)
		}
	}()
	err := fn(ctx)
	released = true
	dropped := err != nil && l.isDropped(err) && !errors.Is(context.Cause(ctx), context.Canceled)
	tok.End(Classify(ctx, err, nil), dropped)
	return err
}
