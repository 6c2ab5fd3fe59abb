package resilience

import (
	"math"
	"time"
)

// LimitAlgorithm adapts a concurrency limit from latency samples.
// Implementations need not be safe for concurrent use: the
// AdaptiveLimiter serialises calls.
type LimitAlgorithm interface {
	// Update returns the new limit given the current one, one completed
	// call's round-trip time, the in-flight count when it started, and
	// whether it failed from overload (timeout, refused by a dependency).
	Update(limit float64, rtt time.Duration, inflight int, dropped bool) float64
}

// AIMD is additive-increase / multiplicative-decrease on a latency
// threshold: a sample slower than Threshold, or dropped, multiplies the
// limit by Backoff; a sample from a busy limiter (in-flight ≥ half the
// limit) adds one. The zero value uses Threshold 100ms and Backoff 0.9.
type AIMD struct {
	Threshold time.Duration
	Backoff   float64
}

// Update implements LimitAlgorithm.
func (a *AIMD) Update(limit float64, rtt time.Duration, inflight int, dropped bool) float64 {
	th, b := a.Threshold, a.Backoff
	if th <= 0 {
		th = 100 * time.Millisecond
	}
	if b <= 0 || b >= 1 {
		b = 0.9
	}
	if dropped || rtt > th {
		return limit * b
	}
	if float64(inflight)*2 >= limit {
		return limit + 1
	}
	return limit
}

// Gradient compares a short-term latency average with a slowly moving
// long-term one (Netflix's gradient2): while they agree the limit grows by
// a queue allowance of √limit; when short-term latency rises, the ratio
// long/short (clamped to [0.5, 1]) shrinks it. Smoothing (default 0.2)
// damps each change; LongWindow (default 600 samples) sets how slowly the
// baseline follows. The zero value is ready to use; a Gradient keeps
// state, so give each limiter its own.
type Gradient struct {
	Smoothing  float64
	LongWindow int
	Tolerance  float64 // short may exceed long by this ratio without shrinking (default 1.5)

	long, short float64 // EWMAs in nanoseconds
}

// Update implements LimitAlgorithm.
func (g *Gradient) Update(limit float64, rtt time.Duration, inflight int, dropped bool) float64 {
	sm, win, tol := g.Smoothing, g.LongWindow, g.Tolerance
	if sm <= 0 || sm > 1 {
		sm = 0.2
	}
	if win <= 0 {
		win = 600
	}
	if tol < 1 {
		tol = 1.5
	}
	x := float64(rtt)
	if dropped {
		x = math.Max(x, g.long*2)
	}
	if g.long == 0 {
		g.long, g.short = x, x
	} else {
		g.long += (x - g.long) / float64(win)
		g.short += (x - g.short) / 10
	}
	if g.long > g.short*2 { // latency dropped a lot: let the baseline catch up
		g.long *= 0.95
	}
	if float64(inflight) < limit/2 && !dropped {
		return limit // idle limiter: samples say nothing about capacity
	}
	grad := math.Max(0.5, math.Min(1, tol*g.long/g.short))
	next := limit*grad + math.Sqrt(limit)
	return limit*(1-sm) + next*sm
}
