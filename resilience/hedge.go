package resilience

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// HedgeOptions configure a Hedge. The zero value (or nil) is valid: one
// hedge after 100 ms, at most 10% extra sends plus 1 a second.
type HedgeOptions struct {
	// Delay is how long the first attempt may go unanswered before a hedge
	// starts (default 100 ms). Set it near the backend's p95 latency.
	Delay time.Duration
	// MaxHedges is the number of extra attempts per call, each Delay
	// after the previous one (default 1). Must be ≥ 0.
	MaxHedges int
	// Budget caps hedges across calls; nil gives this Hedge its own budget
	// with Ratio 0.1, MinPerSecond 1 and Burst 10. A hedge the budget
	// refuses is not started and the call waits for the attempts in flight.
	Budget *RetryBudget
	// Clock times Delay (default real time).
	Clock clock.Clock
	// Name is the scalekit.name attribute of the metrics. Default
	// "resilience".
	Name string
	// MeterProvider receives scalekit.resilience.hedges (default global).
	MeterProvider metric.MeterProvider
	// OnEvent, when set, is called as each hedge decision happens (from
	// the goroutine running Do), for adapters that keep their own
	// instruments.
	OnEvent func(ctx context.Context, e HedgeEvent)
}

// HedgeEvent is one hedging decision: its String is the
// scalekit.resilience.outcome attribute of scalekit.resilience.hedges.
type HedgeEvent uint8

// The hedge events.
const (
	// HedgeSent: a hedge was started.
	HedgeSent HedgeEvent = iota
	// HedgeWon: a hedge (not the first attempt) answered first.
	HedgeWon
	// HedgeBudgetExhausted: the budget refused a hedge.
	HedgeBudgetExhausted
)

// String returns "sent", "won" or "budget_exhausted".
func (e HedgeEvent) String() string {
	switch e {
	case HedgeSent:
		return "sent"
	case HedgeWon:
		return "won"
	}
	return "budget_exhausted"
}

// Hedge is a hedging policy: when an attempt has not answered after
// Delay, start another one, up to MaxHedges extra; the first success wins
// and the others are cancelled. Hedging is a latency tool for calls that
// are safe to repeat, bounded by a RetryBudget.
//
// A Hedge is safe for concurrent use. Build it with NewHedge.
type Hedge struct {
	delay  time.Duration
	max    int
	budget *RetryBudget
	clk    clock.Clock

	hedges  metric.Int64Counter
	outcome [3]metric.AddOption
	onEvent func(context.Context, HedgeEvent)
}

// NewHedge returns a Hedge. Bad options give an error wrapping
// ErrInvalidOption.
func NewHedge(opts *HedgeOptions) (*Hedge, error) {
	var o HedgeOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Delay < 0:
		return nil, optionError("HedgeOptions.Delay %v < 0", o.Delay)
	case o.MaxHedges < 0:
		return nil, optionError("HedgeOptions.MaxHedges %d < 0", o.MaxHedges)
	}
	if o.Delay == 0 {
		o.Delay = 100 * time.Millisecond
	}
	if o.MaxHedges == 0 {
		o.MaxHedges = 1
	}
	clk := clock.Or(o.Clock)
	if o.Budget == nil {
		o.Budget, _ = NewRetryBudget(&RetryBudgetOptions{Ratio: 0.1, MinPerSecond: 1, Burst: 10, Clock: clk,
			Name: o.Name, MeterProvider: o.MeterProvider})
	}
	meter := otelx.Meter(o.MeterProvider, "resilience")
	name := otelx.Name(o.Name, "resilience")
	h := &Hedge{
		delay: o.Delay, max: o.MaxHedges, budget: o.Budget, clk: clk, onEvent: o.OnEvent,
		hedges: otelx.Must(meter.Int64Counter("scalekit.resilience.hedges",
			metric.WithDescription("Hedged attempts, by outcome (sent, won, budget_exhausted)."),
			metric.WithUnit("{attempt}"))),
	}
	for _, e := range []HedgeEvent{HedgeSent, HedgeWon, HedgeBudgetExhausted} {
		h.outcome[e] = metric.WithAttributeSet(attribute.NewSet(name, attrOutcome.String(e.String())))
	}
	return h, nil
}

func (h *Hedge) event(ctx context.Context, e HedgeEvent) {
	h.hedges.Add(ctx, 1, h.outcome[e])
	if h.onEvent != nil {
		h.onEvent(ctx, e)
	}
}

// Budget returns the hedge budget.
func (h *Hedge) Budget() *RetryBudget { return h.budget }

// HedgeStats describe one hedged call.
type HedgeStats struct {
	// Attempts is the number of attempts started (1 + hedges).
	Attempts int
	// Winner is the index of the attempt whose answer was returned (0 the
	// first), or -1 when every attempt failed.
	Winner int
	// BudgetExhausted is set when the budget refused a hedge.
	BudgetExhausted bool
}

type hedgeResult[T any] struct {
	v   T
	err error
	i   int
}

// Do runs fn under h: attempt 0 at once, then attempt i after i·Delay
// while no attempt has succeeded, each in its own child context of ctx
// and within the budget. The first attempt to succeed wins; the others are
// cancelled, and a value a loser still returns is passed to discard (if
// not nil) in the background. A failing attempt does not end the call
// while another is in flight; when all fail, the last error is returned.
//
// The winner's context stays alive until the returned cancel function is
// called (the caller must call it, for example when a response body is
// closed); cancel is never nil. The first attempt deposits into the
// budget; every hedge withdraws from it.
func Do[T any](ctx context.Context, h *Hedge, fn func(ctx context.Context, attempt int) (T, error), discard func(T)) (T, context.CancelFunc, HedgeStats, error) {
	h.budget.Deposit()
	st := HedgeStats{Winner: -1}
	results := make(chan hedgeResult[T], 1+h.max)
	var cancels []context.CancelFunc
	launch := func() {
		actx, cancel := context.WithCancel(ctx)
		i := len(cancels)
		cancels = append(cancels, cancel)
		st.Attempts++
		go func() {
			v, err := fn(actx, i)
			results <- hedgeResult[T]{v, err, i}
		}()
	}
	launch()
	inflight, canHedge := 1, h.max > 0
	timer := h.clk.NewTimer(h.delay)
	defer timer.Stop()
	var lastErr error
	for {
		var tick <-chan time.Time
		if canHedge {
			tick = timer.C()
		}
		select {
		case <-tick:
			if ctx.Err() != nil { // the caller is gone: nothing to hedge for
				canHedge = false
				continue
			}
			if len(results) > 0 { // an answer arrived with the tick: look at it first
				timer.Reset(h.delay)
				continue
			}
			if !h.budget.Withdraw() {
				h.event(ctx, HedgeBudgetExhausted)
				st.BudgetExhausted = true
				canHedge = false
				continue
			}
			h.event(ctx, HedgeSent)
			launch()
			inflight++
			if canHedge = len(cancels) <= h.max; canHedge {
				timer.Reset(h.delay)
			}
		case res := <-results:
			inflight--
			if res.err == nil {
				if res.i > 0 {
					h.event(ctx, HedgeWon)
				}
				for i, c := range cancels {
					if i != res.i {
						c()
					}
				}
				if inflight > 0 {
					go func(n int) {
						for ; n > 0; n-- {
							if r := <-results; r.err == nil && discard != nil {
								discard(r.v)
							}
						}
					}(inflight)
				}
				st.Winner = res.i
				return res.v, cancels[res.i], st, nil
			}
			cancels[res.i]()
			lastErr = res.err
			if inflight == 0 {
				var zero T
				return zero, func() {}, st, lastErr
			}
		}
	}
}

// Execute runs fn under the hedging policy (see Do) and returns nil when
// an attempt succeeds or the last error when all fail.
func (h *Hedge) Execute(ctx context.Context, fn func(context.Context) error) error {
	_, cancel, _, err := Do(ctx, h, func(ctx context.Context, _ int) (struct{}, error) {
		return struct{}{}, fn(ctx)
	}, nil)
	cancel()
	return err
}
