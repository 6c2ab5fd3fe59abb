// Package driver defines the interface that lock backends implement.
//
// A driver maps one call to one engine operation and returns the engine's
// raw errors (or the sentinels below). It does not retry, renew in the
// background, validate input, trace or measure: package lock does all of
// that once, for every backend. Applications use package lock; only backend
// authors import this package.
//
// # Model
//
// A key is held by at most one owner at a time. An owner is an opaque
// string chosen by package lock for each acquisition (random, never
// reused). A holder keeps the key for ttl from its last successful
// TryAcquire or Renew; after that the key is free for others. Every
// successful acquisition of a key by a new owner is given a fencing token:
// an int64 larger than every token handed out for that key before, by any
// process. Backends that persist their counter keep that promise across an
// engine restart.
//
// Backends prove they follow the contract by passing package locktest
// against their real engine.
package driver
