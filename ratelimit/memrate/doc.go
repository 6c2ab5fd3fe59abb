// Package memrate is the in-process backend of package ratelimit: per-key
// limiter state in a sharded map with bounded memory.
//
// Use it for limits local to one process (per-instance protection, tests,
// and as the fallback of a distributed limiter). It implements every
// algorithm of package ratelimit; TokenBucket is built on
// golang.org/x/time/rate, the others on exact integer-nanosecond state.
//
// Memory is bounded two ways: a key whose state has returned to fresh (its
// limit fully restored) is dropped as new keys arrive, which changes no
// decision; and Options.MaxKeys caps the number of keys, dropping the least
// recently used one when exceeded.
package memrate
