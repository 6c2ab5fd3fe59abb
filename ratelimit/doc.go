// Package ratelimit provides keyed rate limiters with exact, documented
// algorithms, a local backend (memrate) and a distributed one (redisrate).
//
// A Limiter is created over a backend's driver with New (redisrate.New
// returns one), or in one line in process with memrate.New (ratelimit
// cannot import its memory backend: memrate imports ratelimit). A Limit
// with no Algorithm is GCRA. Allow(ctx, key, n) returns a
// Decision (allowed, limit, remaining, retry-after, reset-after) and Wait
// blocks until the units are admitted, failing at once with
// ErrWouldExceedDeadline when that would pass the context's deadline.
//
// # Algorithms and what they promise
//
// Let R = Limit.Rate, P = Limit.Period, B = Limit.Burst, T = P/R (the time
// one unit takes to refill).
//
//   - TokenBucket: a bucket holds up to B tokens, refilled continuously at
//     R per P; a request of n units is admitted iff n tokens are present.
//     Promise: in any interval of length d, at most B + d·R/P units are
//     admitted, and a client that waits long enough always gets B at once.
//   - GCRA: the generic cell rate algorithm (virtual scheduling) with
//     emission interval T and burst tolerance (B-1)·T. It admits exactly
//     what TokenBucket admits (same promise) but keeps a single timestamp
//     per key, which is why redisrate uses it.
//   - LeakyBucket: a queue of at most B units that drains at R per P. A
//     request is admitted iff it fits in the queue; it then gets a paced
//     slot (Decision.Delay from now). Promise: the slots of admitted units
//     are at least T apart — output is smooth, never bursty — and at most
//     B units are ever waiting.
//   - FixedWindow: time is cut into aligned windows [kP, (k+1)P) (from the
//     Unix epoch); at most R units are admitted per window. It does NOT
//     bound an arbitrary window of length P: up to 2R units can pass
//     around a boundary (R at the end of one window, R at the start of the
//     next). Do not call it sliding.
//   - SlidingLog: the log of admitted timestamps. Promise: in every
//     half-open interval (t-P, t], at most R units are admitted — exact, at
//     the cost of O(R) memory per key.
//   - SlidingWindow: the sliding-window counter, an approximation of
//     SlidingLog from two fixed-window counts: a request at offset e into
//     the current window is admitted iff prev·(P-e)/P + cur + n ≤ R. It
//     promises at most R per aligned window, and in any interval (t-P, t]
//     at most R + prev·e/P < 2R units (prev = count of the previous
//     aligned window); it is exact when the previous window's traffic was
//     uniform, and it may also deny requests SlidingLog would admit.
//
// Invalid limits (rate ≤ 0, period ≤ 0, burst < 1 on a bucket algorithm)
// and bad calls (empty key, n < 1, n above Capacity) return errors wrapping
// ErrInvalidLimit, ErrEmptyKey, ErrInvalidN and ErrExceedsCapacity.
//
// # Failures
//
// When a distributed backend cannot decide, Options.Fallback (typically a
// memrate limiter) decides instead, or Options.Failure applies: FailError
// (return the error), FailOpen (admit) or FailClosed (deny).
//
// # Metrics
//
// scalekit.ratelimit.decisions counts decisions by "decision"
// (allowed/denied) and "limiter"; scalekit.ratelimit.backend_failures counts
// backend failures by the "policy" applied.
package ratelimit
