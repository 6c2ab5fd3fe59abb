package resilience

import (
	"context"
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// RetryBudgetOptions configure a RetryBudget. The zero value (or nil) means
// Ratio 0.1, MinPerSecond 10 and Burst 10.
type RetryBudgetOptions struct {
	// Ratio is how many extra sends are allowed per request: 0.1 lets
	// retries add at most 10% to the load. Must be in [0, 1]; 0 means 0.1
	// unless NoRatio is set.
	Ratio float64
	// NoRatio sets the ratio to zero: only MinPerSecond and Burst remain.
	NoRatio bool
	// MinPerSecond extra sends are allowed every second whatever the traffic,
	// so that a client with few requests can still retry. Must be ≥ 0; 0
	// means 10 unless NoMinimum is set.
	MinPerSecond float64
	// NoMinimum sets MinPerSecond to zero.
	NoMinimum bool
	// Burst is the most credit the budget holds, and what it starts with.
	// Must be ≥ 0; 0 means max(10, MinPerSecond). At least 1 is kept.
	Burst float64
	// Clock drives the per-second refill. Default real time.
	Clock clock.Clock
	// Name is the scalekit.name attribute of the metrics. Default
	// "resilience".
	Name string
	// MeterProvider receives scalekit.resilience.budget.withdrawals
	// (default global).
	MeterProvider metric.MeterProvider
}

// RetryBudget bounds the extra sends (retries, hedges) a client makes, so that
// retrying cannot multiply the load on a struggling backend. It is a token
// bucket: every request deposits Ratio tokens, time deposits MinPerSecond
// tokens a second, the balance never exceeds Burst, and every extra send
// withdraws one token. Over any interval of t seconds with n requests, extra
// sends are therefore at most Burst + Ratio·n + MinPerSecond·t.
//
// A RetryBudget is safe for concurrent use and may be shared by several
// transports (one budget per backend service is typical). Build it with
// NewRetryBudget; the zero value is an empty budget that allows no extra
// sends at all.
//
// Deposit and Withdraw are the low-level form that transports use; a
// Retry or Hedge policy calls them itself.
type RetryBudget struct {
	clk       clock.Clock
	ratio     float64
	perSecond float64
	burst     float64

	mu      sync.Mutex
	balance float64
	last    time.Time

	withdrawals      metric.Int64Counter
	granted, refused metric.AddOption
}

// NewRetryBudget returns a full budget configured by opts (nil means the
// defaults). Out-of-range options give an error wrapping
// ErrInvalidOption.
func NewRetryBudget(opts *RetryBudgetOptions) (*RetryBudget, error) {
	var o RetryBudgetOptions
	if opts != nil {
		o = *opts
	}
	bad := func(v float64) bool { return v < 0 || math.IsNaN(v) || math.IsInf(v, 0) }
	if bad(o.Ratio) || o.Ratio > 1 {
		return nil, optionError("RetryBudgetOptions.Ratio %v not in [0, 1]", o.Ratio)
	}
	if bad(o.MinPerSecond) {
		return nil, optionError("RetryBudgetOptions.MinPerSecond %v < 0", o.MinPerSecond)
	}
	if bad(o.Burst) {
		return nil, optionError("RetryBudgetOptions.Burst %v < 0", o.Burst)
	}
	switch {
	case o.NoRatio:
		o.Ratio = 0
	case o.Ratio == 0:
		o.Ratio = 0.1
	}
	switch {
	case o.NoMinimum:
		o.MinPerSecond = 0
	case o.MinPerSecond == 0:
		o.MinPerSecond = 10
	}
	if o.Burst == 0 {
		o.Burst = max(10, o.MinPerSecond)
	}
	o.Burst = max(o.Burst, 1)
	clk := clock.Or(o.Clock)
	name := otelx.Name(o.Name, "resilience")
	meter := otelx.Meter(o.MeterProvider, "resilience")
	return &RetryBudget{
		clk: clk, ratio: o.Ratio, perSecond: o.MinPerSecond, burst: o.Burst,
		balance: o.Burst, last: clk.Now(),
		withdrawals: otelx.Must(meter.Int64Counter("scalekit.resilience.budget.withdrawals",
			metric.WithDescription("Extra sends (retries, hedges) asked of a retry budget, by outcome (granted, refused)."),
			metric.WithUnit("{attempt}"))),
		granted: metric.WithAttributeSet(attribute.NewSet(name, attrOutcome.String("granted"))),
		refused: metric.WithAttributeSet(attribute.NewSet(name, attrOutcome.String("refused"))),
	}, nil
}

// refillLocked adds the time-based credit since the last call.
func (b *RetryBudget) refillLocked() {
	if b.perSecond <= 0 {
		return
	}
	now := b.clk.Now()
	if dt := now.Sub(b.last); dt > 0 {
		b.balance = min(b.burst, b.balance+dt.Seconds()*b.perSecond)
	}
	b.last = now // a clock moving backwards just earns nothing
}

// Deposit records one request (a first attempt). It does not read the
// clock (time-based credit is added by the next Withdraw), keeping the
// per-request cost to a short critical section.
func (b *RetryBudget) Deposit() {
	b.mu.Lock()
	b.balance = min(b.burst, b.balance+b.ratio)
	b.mu.Unlock()
}

// Withdraw takes one token for an extra send; false means the budget is
// spent and the send must not happen.
func (b *RetryBudget) Withdraw() bool {
	ok := b.withdraw()
	if b.withdrawals != nil {
		if ok {
			b.withdrawals.Add(context.Background(), 1, b.granted)
		} else {
			b.withdrawals.Add(context.Background(), 1, b.refused)
		}
	}
	return ok
}

func (b *RetryBudget) withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked()
	// The epsilon absorbs float rounding of repeated Ratio deposits
	// (ten deposits of 0.1 must buy one retry).
	if b.balance < 1-1e-9 {
		return false
	}
	b.balance--
	return true
}

// Available returns the number of extra sends the budget would allow now.
func (b *RetryBudget) Available() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked()
	return b.balance
}
