package memorycache

import (
	"context"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/clock"
)

// BytesOptions configure a Bytes store. Exactly one of MaxEntries and
// MaxBytes must be set.
type BytesOptions struct {
	// MaxEntries bounds the number of entries.
	MaxEntries int
	// MaxBytes bounds the sum of len(key)+len(value) over the entries.
	MaxBytes int64
	// Policy is the eviction policy (default S3FIFO).
	Policy Policy
	// Shards as in Options.
	Shards int
	// Bus, if set, is shared with other Bytes stores of this process so
	// their Publish/Subscribe reach each other (a stand-in for Redis
	// pub/sub in tests of tiered caches). Nil gives the store its own.
	Bus *Bus
	// Clock is used for expiry; nil is the real clock.
	Clock clock.Clock
}

// Bytes is the in-process byte-level store: a driver.Store and
// driver.Broadcaster over a Store[string, []byte]. It copies values in and
// out, so callers may reuse their slices. Safe for concurrent use.
type Bytes struct {
	s   *Store[string, []byte]
	bus *Bus
}

var (
	_ driver.Store       = (*Bytes)(nil)
	_ driver.Broadcaster = (*Bytes)(nil)
)

// NewBytes returns an empty Bytes store.
func NewBytes(opts *BytesOptions) (*Bytes, error) {
	var o BytesOptions
	if opts != nil {
		o = *opts
	}
	so := &Options[string, []byte]{MaxEntries: o.MaxEntries, MaxCost: o.MaxBytes, Policy: o.Policy, Shards: o.Shards, Clock: o.Clock}
	if o.MaxBytes > 0 {
		so.Weigher = func(k string, v []byte) int64 { return int64(len(k) + len(v)) }
	}
	s, err := New(so)
	if err != nil {
		return nil, err
	}
	bus := o.Bus
	if bus == nil {
		bus = NewBus()
	}
	return &Bytes{s: s, bus: bus}, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return append([]byte(nil), b...)
}

// Get implements driver.Store.
func (b *Bytes) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	v, ok := b.s.Get(key)
	if !ok {
		return nil, false, nil
	}
	return clone(v), true, nil
}

// GetMulti implements driver.Store.
func (b *Bytes) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if v, ok := b.s.Get(k); ok {
			out[i] = clone(v)
		}
	}
	return out, nil
}

// Set implements driver.Store.
func (b *Bytes) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.s.Set(key, clone(value), ttl)
}

// SetMulti implements driver.Store.
func (b *Bytes) SetMulti(ctx context.Context, items []driver.Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, it := range items {
		if err := b.s.Set(it.Key, clone(it.Value), it.TTL); err != nil {
			return err
		}
	}
	return nil
}

// Add implements driver.Store.
func (b *Bytes) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return b.s.Add(key, clone(value), ttl)
}

// Delete implements driver.Store.
func (b *Bytes) Delete(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		b.s.Delete(k)
	}
	return nil
}

// Evictions returns how many entries were evicted for room.
func (b *Bytes) Evictions() uint64 { return b.s.Evictions() }

// Publish implements driver.Broadcaster on the store's Bus.
func (b *Bytes) Publish(ctx context.Context, msg []byte) error { return b.bus.Publish(ctx, msg) }

// Subscribe implements driver.Broadcaster on the store's Bus.
func (b *Bytes) Subscribe(ctx context.Context, fn func([]byte)) (driver.Subscription, error) {
	return b.bus.Subscribe(ctx, fn)
}

// Bus is an in-process message fan-out with the semantics of
// driver.Broadcaster. Publish delivers synchronously, in order, to every
// subscriber. The zero value is not usable; call NewBus. Safe for
// concurrent use.
type Bus struct {
	mu   sync.Mutex
	subs map[*busSub]struct{}
}

type busSub struct {
	bus *Bus
	fn  func([]byte)
}

// NewBus returns a Bus with no subscribers.
func NewBus() *Bus { return &Bus{subs: make(map[*busSub]struct{})} }

// Publish delivers a copy of msg to every subscriber before returning.
func (b *Bus) Publish(ctx context.Context, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.fn(clone(msg))
	}
	return nil
}

// Subscribe registers fn.
func (b *Bus) Subscribe(ctx context.Context, fn func([]byte)) (driver.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &busSub{bus: b, fn: fn}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s, nil
}

// Close implements driver.Subscription.
func (s *busSub) Close() error {
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
	return nil
}
