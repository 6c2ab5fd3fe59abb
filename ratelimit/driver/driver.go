package driver

import (
	"context"
	"time"
)

// Algorithm names a rate-limiting algorithm. The zero value is GCRA.
type Algorithm int

// The algorithms. Each is described precisely, with what it promises, in the
// documentation of package ratelimit.
const (
	// GCRA: the generic cell rate algorithm; admits exactly what
	// TokenBucket admits, with one timestamp of state. It is the zero
	// value, so a Limit with no Algorithm is GCRA.
	GCRA Algorithm = iota
	// TokenBucket: a bucket of Burst tokens refilled at Rate per Period.
	TokenBucket
	// LeakyBucket: a queue of at most Burst units drained at Rate per
	// Period; admitted requests are paced (Decision.Delay).
	LeakyBucket
	// FixedWindow: at most Rate units per aligned window of length Period.
	FixedWindow
	// SlidingLog: at most Rate units in any window of length Period.
	SlidingLog
	// SlidingWindow: the sliding-window counter, a weighted approximation
	// of SlidingLog from two fixed-window counters.
	SlidingWindow
)

// String returns the algorithm's name.
func (a Algorithm) String() string {
	switch a {
	case TokenBucket:
		return "token_bucket"
	case LeakyBucket:
		return "leaky_bucket"
	case FixedWindow:
		return "fixed_window"
	case SlidingLog:
		return "sliding_log"
	case SlidingWindow:
		return "sliding_window"
	case GCRA:
		return "gcra"
	}
	return "invalid"
}

// Bucket reports whether the algorithm is a bucket algorithm (TokenBucket,
// LeakyBucket, GCRA), which uses Limit.Burst.
func (a Algorithm) Bucket() bool {
	return a == TokenBucket || a == LeakyBucket || a == GCRA
}

// Limit configures a limiter: Rate units per Period under Algorithm.
//
// Bucket algorithms (TokenBucket, LeakyBucket, GCRA) refill or drain at
// Rate/Period and hold at most Burst units (Burst ≥ 1). Window algorithms
// (FixedWindow, SlidingLog, SlidingWindow) admit Rate units per window of
// length Period and take no Burst (it must be zero).
type Limit struct {
	Algorithm Algorithm
	Rate      int
	Period    time.Duration
	Burst     int
}

// Capacity is the largest n a single call can ever be admitted with: Burst
// for bucket algorithms, Rate for window algorithms. It is also the
// Decision.Limit of every decision.
func (l Limit) Capacity() int {
	if l.Algorithm.Bucket() {
		return l.Burst
	}
	return l.Rate
}

// Interval is the time one unit takes to refill, Period/Rate, rounded up to
// a whole nanosecond so that integer-time algorithms never exceed the rate.
func (l Limit) Interval() time.Duration {
	if l.Rate <= 0 || l.Period <= 0 {
		return 0
	}
	r := time.Duration(l.Rate)
	return (l.Period + r - 1) / r
}

// Decision is the outcome of one Allow call.
type Decision struct {
	// Allowed reports whether the n units were admitted.
	Allowed bool
	// Limit is the most units a single call can be admitted with (the
	// limiter's Capacity); it is what RateLimit-Limit headers report.
	Limit int
	// Remaining is how many more units would be admitted right now, after
	// this decision.
	Remaining int
	// RetryAfter is, when Allowed is false, how long until the same request
	// would be admitted if nothing else happened; zero when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the limiter is back to its initial,
	// unused state for this key if nothing else happened.
	ResetAfter time.Duration
	// Delay is, for LeakyBucket, how long the admitted request must wait
	// for its paced slot before acting; zero for every other algorithm.
	Delay time.Duration
}

// Limiter is the interface a rate-limiting backend implements. The concrete
// ratelimit.Limiter validates arguments (non-empty key, 1 ≤ n ≤ Capacity)
// before calling Allow, and adds Wait, metrics and the failure policy.
//
// Implementations must be safe for concurrent use.
type Limiter interface {
	// Limit returns the limit the backend enforces.
	Limit() Limit
	// Allow decides whether n units for key are admitted now, and records
	// them when they are. It returns the engine's raw error when the
	// backend cannot decide (for example Redis is unreachable).
	Allow(ctx context.Context, key string, n int) (Decision, error)
}
