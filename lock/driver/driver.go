package driver

import (
	"context"
	"errors"
	"time"
)

// ErrLocked is returned by Locker.TryAcquire when another owner holds the
// key.
var ErrLocked = errors.New("lock: held by another owner")

// ErrNotHeld is returned by Locker.Renew and Locker.Release when the key is
// not held by the given owner: the lease expired, was released, was dropped
// by the engine, or another owner holds the key now.
var ErrNotHeld = errors.New("lock: not held")

// Request describes one acquisition attempt.
type Request struct {
	// Key names the lock. Package lock has checked that it is non-empty
	// and no longer than the driver's Limits.MaxKeyLen.
	Key string
	// Owner identifies this acquisition; the driver stores it and later
	// matches it in Renew, Release and Holder.
	Owner string
	// TTL is the lease duration, at least the driver's Limits.MinTTL.
	TTL time.Duration
	// Meta is free-form holder metadata (a host name, a leader's address)
	// that Holder reports back. It may be empty.
	Meta string
}

// Holder describes the current holder of a key.
type Holder struct {
	// Owner is the owner string given at acquisition.
	Owner string
	// Meta is the metadata given at acquisition.
	Meta string
	// Token is the fencing token of the holder's acquisition.
	Token int64
	// TTL is the time left on the lease as the engine sees it, or 0 when
	// the driver cannot tell.
	TTL time.Duration
}

// Locker is the interface every backend implements. Implementations must be
// safe for concurrent use by many goroutines and, where the engine is
// shared, by many processes.
type Locker interface {
	// TryAcquire takes req.Key for req.Owner if no live lease holds it,
	// and returns the new fencing token: larger than every token handed
	// out for the key before. It returns ErrLocked if another owner holds
	// the key. If req.Owner already holds the key (a retry after a lost
	// reply), it extends the lease to req.TTL and returns the token it
	// already has, so a retried acquisition never deadlocks on itself.
	TryAcquire(ctx context.Context, req Request) (token int64, err error)
	// Renew extends the lease of owner on key to ttl from now. It returns
	// ErrNotHeld if owner does not hold key.
	Renew(ctx context.Context, key, owner string, ttl time.Duration) error
	// Release ends owner's lease on key at once. It returns ErrNotHeld if
	// owner does not hold key (and then changes nothing).
	Release(ctx context.Context, key, owner string) error
	// Holder reports the live holder of key; held is false when the key
	// is free.
	Holder(ctx context.Context, key string) (h Holder, held bool, err error)
}

// Notifier is an optional interface of a Locker that can tell waiters when
// a key may have become free, so that they need not poll quickly. Package
// lock subscribes before each TryAcquire and then waits for the channel, a
// backoff timer (which also covers expiry) or its context, whichever comes
// first.
type Notifier interface {
	// Notify returns a channel that becomes ready (is closed or receives)
	// after key is released, or earlier; spurious wake-ups are allowed,
	// missed ones are not for releases that happen after Notify returns.
	// stop frees the subscription; it must be called exactly once.
	Notify(ctx context.Context, key string) (ready <-chan struct{}, stop func(), err error)
}

// Queuer is an optional interface of a Locker whose engine queues waiters
// itself (etcd's FIFO of keys under a prefix, say), so that a release wakes
// exactly the next waiter instead of a thundering herd.
type Queuer interface {
	// Acquire blocks until req.Owner holds req.Key, in arrival order, and
	// returns the fencing token. When ctx ends first it removes the
	// waiter's place in the queue (leaving no waiter behind) and returns
	// ctx.Err().
	Acquire(ctx context.Context, req Request) (token int64, err error)
}

// Limits are a driver's bounds on input. The zero value of a field means
// "no bound of its own" (package lock still applies its defaults).
type Limits struct {
	// MaxKeyLen is the longest key, in bytes, the driver accepts.
	MaxKeyLen int
	// MinTTL is the shortest lease the driver supports (etcd leases, for
	// example, have whole-second granularity).
	MinTTL time.Duration
}

// Limited is an optional interface of a Locker with input bounds; package
// lock rejects keys and TTLs outside them before calling the driver.
type Limited interface {
	Limits() Limits
}

// Retryable is an optional interface of a Locker that can tell transient
// engine errors (timeouts, connection resets, failover) from permanent ones.
// Package lock retries only retryable errors while acquiring and keeps
// renewing after them until the lease's validity runs out. Without it,
// every error other than ErrLocked and ErrNotHeld counts as retryable for
// renewal and as final for acquisition.
type Retryable interface {
	IsRetryable(err error) bool
}

// Local is an optional marker interface of a Locker that does no I/O (an
// in-process engine such as memlock). Package lock records its metrics but
// starts no spans for it, so the in-process path pays nothing for tracing.
type Local interface {
	Local()
}
