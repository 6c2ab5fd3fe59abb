package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// Cache is a typed cache front over a store. It adds everything drivers
// leave out: encoding, TTL jitter, singleflight loading, negative caching,
// stale serving, refresh-ahead, XFetch, the Bloom guard, statistics and
// OpenTelemetry metrics.
//
// A Cache is safe for concurrent use. Create one with NewLocal, NewRemote
// or OpenTiered; the zero value is not usable. Close it to stop background
// work.
type Cache[K comparable, V any] struct {
	b backend[K, V]
	// local is the store of a NewLocal cache (nil otherwise): the read
	// paths call it directly, skipping the backend indirection.
	local driver.Local[K, Entry[V]]
	// mem is local when it is a *memorycache.Store: a direct call, no
	// interface dispatch, on the hit path.
	mem *memorycache.Store[K, Entry[V]]
	// memClk: mem reads the same (real) clock as the cache, so the reading
	// it takes to check its own expiry also serves the freshness check.
	memClk bool
	o      Options[K, V]
	clk    clock.Clock
	tracer trace.Tracer
	attrs  []attribute.KeyValue
	remote bool

	mu         sync.Mutex
	flights    map[K]*flight[V]
	refreshing map[K]struct{}
	bg         sync.WaitGroup
	closed     atomic.Bool
	closeFns   []func() error

	st           counters
	metrics      *metricsReg
	hotKeyString func(K) string
}

// NewLocal returns a Cache over a typed in-process store, for example a
// memorycache.Store[K, cache.Entry[V]]. Values are not serialised.
func NewLocal[K comparable, V any](store driver.Local[K, Entry[V]], opts *Options[K, V]) (*Cache[K, V], error) {
	if store == nil {
		return nil, fmt.Errorf("cache: nil store")
	}
	c, err := newCache[K, V](localBackend[K, V]{store}, opts, false)
	if err != nil {
		return nil, err
	}
	c.local = store
	c.mem, _ = store.(*memorycache.Store[K, Entry[V]])
	c.memClk = c.mem != nil && c.mem.SameClock(c.o.Clock)
	return c, nil
}

// NewRemote returns a Cache over a byte-level store (rediscache, or
// memorycache.Bytes); values go through Options.Codec (JSON by default).
func NewRemote[K comparable, V any](store driver.Store, opts *Options[K, V]) (*Cache[K, V], error) {
	if store == nil {
		return nil, fmt.Errorf("cache: nil store")
	}
	var o Options[K, V]
	if opts != nil {
		o = *opts
	}
	return newCache[K, V](newRemoteBackend(store, &o), &o, true)
}

func newCache[K comparable, V any](b backend[K, V], opts *Options[K, V], remote bool) (*Cache[K, V], error) {
	var o Options[K, V]
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Codec == nil {
		o.Codec = JSON[V]{}
	}
	c := &Cache[K, V]{
		b:          b,
		o:          o,
		clk:        clock.Or(o.Clock),
		tracer:     otelx.Tracer(o.TracerProvider, "cache"),
		remote:     remote,
		flights:    make(map[K]*flight[V]),
		refreshing: make(map[K]struct{}),
	}
	c.hotKeyString = o.KeyString
	if c.hotKeyString == nil {
		c.hotKeyString = keyStringer[K]("")
	}
	c.attrs = []attribute.KeyValue{otelx.Name(o.Name, "cache")}
	if remote {
		c.b = tracedBackend[K, V]{b: b, tracer: c.tracer, attrs: c.attrs,
			attrs1: append(c.attrs[:len(c.attrs):len(c.attrs)], attribute.Int("scalekit.cache.keys", 1))}
	}
	m, err := registerMetrics(c)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return c, nil
}

func (c *Cache[K, V]) now() int64 { return c.clk.Now().UnixNano() }

// ttl returns the jittered freshness TTL for a new value.
func (c *Cache[K, V]) ttl(base time.Duration) time.Duration {
	if base <= 0 || c.o.Jitter == 0 {
		return base
	}
	f := 1 + c.o.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(base) * f)
}

// entryFor builds the stored entry and its physical TTL (freshness plus
// the stale window).
func (c *Cache[K, V]) entryFor(v V, fresh time.Duration, delta time.Duration) (Entry[V], time.Duration) {
	now := c.now()
	e := Entry[V]{Value: v, Delta: int64(delta), Stored: now}
	if fresh == 0 {
		return e, 0
	}
	e.Fresh = now + int64(fresh)
	return e, fresh + c.o.staleWindow()
}

func (c *Cache[K, V]) isFresh(e Entry[V], now int64) bool { return e.Fresh == 0 || now < e.Fresh }

// freshNow reports whether e is fresh, reading the clock only when e has
// an expiry (an entry stored without TTL costs no clock read).
func (c *Cache[K, V]) freshNow(e *Entry[V]) bool { return e.Fresh == 0 || c.now() < e.Fresh }

// get reads one entry: straight from the store of a local cache, through
// the backend otherwise.
func (c *Cache[K, V]) get(ctx context.Context, key K) (Entry[V], bool, error) {
	return c.getAt(ctx, key, nil)
}

// getAt is get that, from a memorycache store on the cache's clock, also
// hands back in *now the clock reading the store took to check the entry's
// expiry (left untouched when it took none).
func (c *Cache[K, V]) getAt(ctx context.Context, key K, now *int64) (Entry[V], bool, error) {
	if c.mem != nil {
		var e Entry[V]
		if !c.memClk {
			now = nil
		}
		ok := c.mem.GetIntoAt(key, &e, now)
		return e, ok, nil
	}
	if c.local != nil {
		e, ok := c.local.Get(key)
		return e, ok, nil
	}
	return c.b.get(ctx, key)
}

// Get returns the fresh value of key (cache-aside read). ok is false on a
// miss, for a stale entry and for a cached negative entry. A store error is
// returned as is, wrapped with the key.
func (c *Cache[K, V]) Get(ctx context.Context, key K) (value V, ok bool, err error) {
	if c.closed.Load() {
		return value, false, ErrClosed
	}
	if c.o.HotKeys != nil {
		c.countRead(key)
	}
	if c.mem != nil { // fast path: no interface call, no 40-byte Entry copies through layers
		var e Entry[V]
		var now int64 // the store's clock reading, if it took one
		ok := c.mem.GetIntoAt(key, &e, &now)
		if ok && e.Fresh != 0 && (now == 0 || !c.memClk) {
			now = c.now()
		}
		if !ok || e.Absent || (e.Fresh != 0 && now >= e.Fresh) {
			c.st.misses.Add(1)
			return value, false, nil
		}
		c.st.hits.Add(1)
		return e.Value, true, nil
	}
	e, ok, err := c.get(ctx, key)
	if err != nil {
		c.st.misses.Add(1)
		return value, false, opErr(ctx, err, "get %v", key)
	}
	if !ok || e.Absent || !c.freshNow(&e) {
		c.st.misses.Add(1)
		return value, false, nil
	}
	c.st.hits.Add(1)
	return e.Value, true, nil
}

// GetMulti returns the fresh values of keys that are cached; absent, stale
// and negative entries are left out of the map.
func (c *Cache[K, V]) GetMulti(ctx context.Context, keys []K) (map[K]V, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	out := make(map[K]V, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	for _, k := range keys {
		c.countRead(k)
	}
	es, oks, err := c.b.getMulti(ctx, keys)
	if err != nil {
		c.st.misses.Add(uint64(len(keys)))
		return nil, opErr(ctx, err, "get %d keys", len(keys))
	}
	var now int64 // read once, and only if some entry has an expiry
	for i, k := range keys {
		if now == 0 && oks[i] && es[i].Fresh != 0 {
			now = c.now()
		}
		if oks[i] && !es[i].Absent && c.isFresh(es[i], now) {
			out[k] = es[i].Value
			c.st.hits.Add(1)
		} else {
			c.st.misses.Add(1)
		}
	}
	return out, nil
}

// Set stores value under key with the default TTL (cache-aside write).
func (c *Cache[K, V]) Set(ctx context.Context, key K, value V) error {
	return c.SetTTL(ctx, key, value, c.o.TTL)
}

// SetTTL stores value under key, fresh for ttl (jittered; zero: forever).
func (c *Cache[K, V]) SetTTL(ctx context.Context, key K, value V, ttl time.Duration) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if ttl < 0 {
		return fmt.Errorf("cache: set %v: %w: %v", key, ErrInvalidTTL, ttl)
	}
	e, phys := c.entryFor(value, c.ttl(ttl), 0)
	if err := c.b.set(ctx, key, e, phys); err != nil {
		return opErr(ctx, err, "set %v", key)
	}
	return nil
}

// SetMulti stores every pair with the default TTL, batched into as few
// store round trips as the backend allows.
func (c *Cache[K, V]) SetMulti(ctx context.Context, values map[K]V) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if len(values) == 0 {
		return nil
	}
	ks := make([]K, 0, len(values))
	es := make([]Entry[V], 0, len(values))
	ttls := make([]time.Duration, 0, len(values))
	for k, v := range values {
		e, phys := c.entryFor(v, c.ttl(c.o.TTL), 0)
		ks, es, ttls = append(ks, k), append(es, e), append(ttls, phys)
	}
	if err := c.b.setMulti(ctx, ks, es, ttls); err != nil {
		return opErr(ctx, err, "set %d keys", len(ks))
	}
	return nil
}

// Add stores value under key only if no entry exists, atomically across
// every instance sharing the store, and reports whether it stored.
func (c *Cache[K, V]) Add(ctx context.Context, key K, value V) (bool, error) {
	if c.closed.Load() {
		return false, ErrClosed
	}
	e, phys := c.entryFor(value, c.ttl(c.o.TTL), 0)
	added, err := c.b.add(ctx, key, e, phys)
	if err != nil {
		return false, opErr(ctx, err, "add %v", key)
	}
	return added, nil
}

// Delete removes keys (cache-aside invalidation). In a tiered cache it also
// clears every instance's L1.
func (c *Cache[K, V]) Delete(ctx context.Context, keys ...K) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if len(keys) == 0 {
		return nil
	}
	if err := c.b.del(ctx, keys...); err != nil {
		return opErr(ctx, err, "delete %v", keys)
	}
	return nil
}

// Wait blocks until the background reloads started so far have finished.
func (c *Cache[K, V]) Wait() { c.bg.Wait() }

// Close stops new operations, waits for background reloads (or ctx), and
// releases subscriptions and metric callbacks. It is idempotent.
func (c *Cache[K, V]) Close(ctx context.Context) error {
	c.mu.Lock() // no new flight or refresh may start once Wait below runs
	already := c.closed.Swap(true)
	c.mu.Unlock()
	if already {
		return nil
	}
	done := make(chan struct{})
	go func() { c.bg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	for _, f := range c.closeFns {
		if e := f(); e != nil && err == nil {
			err = e
		}
	}
	if c.metrics != nil {
		_ = c.metrics.unregister()
	}
	return err
}
