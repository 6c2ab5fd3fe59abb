package driver

import (
	"context"
	"errors"
	"time"
)

// ErrTooLarge is returned (wrapped) by a store when a value is larger than
// the store accepts: bigger than the whole capacity of an in-process store,
// or than the engine's value-size limit.
var ErrTooLarge = errors.New("cache: value too large for the store")

// ErrClosed is returned by a store or subscription used after Close.
var ErrClosed = errors.New("cache: store closed")

// Item is one entry of a SetMulti call. TTL zero means no expiry.
type Item struct {
	Key   string
	Value []byte
	TTL   time.Duration
}

// Store is a byte-level key/value store with per-entry TTL.
//
// A TTL of zero means the entry does not expire; callers never pass a
// negative TTL (the concrete layer rejects it). Implementations must be safe
// for concurrent use and must not retain or modify value slices passed to
// them or returned from them after the call returns (they copy when needed).
type Store interface {
	// Get returns the value stored under key. ok is false (and err nil)
	// when the key is absent or expired.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// GetMulti returns the values of keys, in the same order; a nil element
	// means the key is absent. Backends pipeline or batch this into as few
	// round trips as the engine allows.
	GetMulti(ctx context.Context, keys []string) ([][]byte, error)
	// Set stores value under key for ttl, replacing any previous value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetMulti stores every item, each with its own TTL. It is not atomic
	// across items.
	SetMulti(ctx context.Context, items []Item) error
	// Add stores value under key only if the key is absent (or expired),
	// atomically: of several concurrent Adds of one key, across every
	// process sharing the engine, exactly one reports added == true.
	Add(ctx context.Context, key string, value []byte, ttl time.Duration) (added bool, err error)
	// Delete removes keys; absent keys are not an error.
	Delete(ctx context.Context, keys ...string) error
}

// Broadcaster is an optional interface of a Store whose engine can fan
// messages out to every instance (Redis pub/sub). Package cache uses it to
// tell every instance's in-process L1 which keys were written or deleted.
// Delivery is best effort and at most once: a message published while a
// subscriber is disconnected is lost.
type Broadcaster interface {
	// Publish sends msg to every current subscriber, including those of
	// this process.
	Publish(ctx context.Context, msg []byte) error
	// Subscribe calls fn for every message published after Subscribe
	// returns, from one goroutine, in publication order. fn must not block
	// for long. Close the returned Subscription to stop.
	Subscribe(ctx context.Context, fn func(msg []byte)) (Subscription, error)
}

// Subscription is a live Broadcaster subscription.
type Subscription interface {
	// Close stops delivery; fn is not called after Close returns.
	Close() error
}

// MaxValueSizer is an optional interface of a Store with a hard limit on the
// size of one value; the concrete layer rejects larger values with
// ErrTooLarge before calling the store.
type MaxValueSizer interface {
	MaxValueSize() int
}

// Retryable is an optional interface of a Store that can tell transient
// engine errors (timeouts, connection resets, failover) from permanent ones.
type Retryable interface {
	IsRetryable(err error) bool
}

// Local is a typed in-process store. It keeps values as they are, without
// serialising them, so it never fails to encode. Implementations must be
// safe for concurrent use; Get is expected to be fast under parallel
// readers.
type Local[K comparable, V any] interface {
	// Get returns the live value of key.
	Get(key K) (value V, ok bool)
	// Set stores value under key for ttl (zero: no expiry). It returns an
	// error wrapping ErrTooLarge when the value alone exceeds the capacity.
	Set(key K, value V, ttl time.Duration) error
	// Add stores value only if key is absent or expired; it reports
	// whether it stored.
	Add(key K, value V, ttl time.Duration) (added bool, err error)
	// Delete removes key; absent is not an error.
	Delete(key K)
}
