// Package memrate is the in-process backend of package ratelimit: per-key
// limiter state in a sharded map with bounded memory.
//
// Use it for limits local to one process (per-instance protection, tests,
// and as the Fallback of a distributed limiter while Redis is unreachable).
// It implements every algorithm of package ratelimit on exact
// integer-nanosecond state, so its decisions are exactly those of the
// algorithms' definitions (checked by package ratelimittest against
// independent reference models).
//
// golang.org/x/time/rate is not used for TokenBucket: its float64 token
// arithmetic admits or denies differently from the exact definition near
// refill boundaries (for 3 per second and request gaps within a few
// nanoseconds of whole refill intervals, 17,724 of 200,000 fake-clock
// decisions differ; TestXTimeRateIsNotExact shows it), and
// exactness is what this package promises. memrate stores the tokens of a
// bucket as an integer count of 1/Period units instead, which refills
// exactly Rate units per nanosecond.
//
// Memory is bounded two ways: a key whose state has returned to fresh (its
// limit fully restored) and that went unused for a Period is dropped as new
// keys arrive, which changes no decision (a key in steady use is kept, so a
// working set is decided without allocating); and Options.MaxKeys caps the
// number of keys across all shards, exactly, dropping a least recently used
// key only when it is reached. Below MaxKeys a key inside its window is
// never dropped.
package memrate
