package httpx

import (
	"math"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/clock"
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
type RetryBudget struct {
	clk       clock.Clock
	ratio     float64
	perSecond float64
	burst     float64

	mu      sync.Mutex
	balance float64
	last    time.Time
}

// NewRetryBudget returns a full budget configured by opts (nil means the
// defaults). Out-of-range options give an error wrapping
// ErrInvalidClientOption.
func NewRetryBudget(opts *RetryBudgetOptions) (*RetryBudget, error) {
	var o RetryBudgetOptions
	if opts != nil {
		o = *opts
	}
	bad := func(v float64) bool { return v < 0 || math.IsNaN(v) || math.IsInf(v, 0) }
	if bad(o.Ratio) || o.Ratio > 1 {
		return nil, clientOptionError("RetryBudgetOptions.Ratio %v not in [0, 1]", o.Ratio)
	}
	if bad(o.MinPerSecond) {
		return nil, clientOptionError("RetryBudgetOptions.MinPerSecond %v < 0", o.MinPerSecond)
	}
	if bad(o.Burst) {
		return nil, clientOptionError("RetryBudgetOptions.Burst %v < 0", o.Burst)
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
	return &RetryBudget{
		clk: clk, ratio: o.Ratio, perSecond: o.MinPerSecond, burst: o.Burst,
		balance: o.Burst, last: clk.Now(),
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

// deposit records one request. It does not read the clock (time-based
// credit is added by the next withdraw), keeping the per-request cost to a
// short critical section.
func (b *RetryBudget) deposit() {
	b.mu.Lock()
	b.balance = min(b.burst, b.balance+b.ratio)
	b.mu.Unlock()
}

// withdraw takes one token for an extra send; false means the budget is
// spent and the send must not happen.
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
