package cache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"

	"github.com/scalekit-go/scalekit/internal/otelx"
	"go.opentelemetry.io/otel/attribute"
)

// LoaderFunc loads the value of key from the source of truth. It returns
// ErrNotFound (possibly wrapped) when the key does not exist there.
type LoaderFunc[K comparable, V any] func(ctx context.Context, key K) (V, error)

// flight is one in-progress load that concurrent callers share.
type flight[V any] struct {
	done    chan struct{}
	val     V
	err     error
	waiters int // callers sharing the flight; guarded by Cache.mu
}

// GetOrLoad returns the value of key, loading it with loader on a miss
// (read-through). Concurrent misses on one key, in this process, share a
// single loader call (singleflight); its result, error or panic (as a
// *PanicError) reaches every waiter. The loader runs with a context that
// keeps ctx's values but not its cancellation, so one caller giving up does
// not fail the others; a caller whose ctx ends returns ctx.Err().
//
// Depending on Options it also serves stale values (StaleWhileRevalidate,
// StaleIfError), refreshes ahead of expiry (RefreshAhead, EarlyExpiration),
// caches ErrNotFound (NegativeTTL) and consults the Guard. A store error on
// read is treated as a miss; a store error on write after a successful
// load is counted but not returned.
func (c *Cache[K, V]) GetOrLoad(ctx context.Context, key K, loader LoaderFunc[K, V]) (V, error) {
	var zero V
	if loader == nil {
		return zero, ErrNilLoader
	}
	if c.closed.Load() {
		return zero, ErrClosed
	}
	c.countRead(key)
	if c.o.Guard != nil && !c.o.Guard(key) {
		c.st.guardRejects.Add(1)
		return zero, ErrNotFound
	}
	var now int64 // a local store's clock reading, if it took one
	e, ok, err := c.getAt(ctx, key, &now)
	if err != nil {
		c.st.storeErrors.Add(1)
		ok = false
	}
	var stale *Entry[V]
	if ok {
		// An entry without expiry is always fresh and never refreshed
		// early or served stale, so it needs no clock read; one with an
		// expiry needs one, which a local store may already have taken.
		if e.Fresh != 0 && now == 0 {
			now = c.now()
		}
		if e.Absent {
			if c.isFresh(e, now) {
				c.st.hits.Add(1)
				c.st.negativeHits.Add(1)
				return zero, ErrNotFound
			}
		} else if c.isFresh(e, now) {
			c.st.hits.Add(1)
			if c.shouldRefreshEarly(e, now) {
				c.refreshInBackground(ctx, key, loader)
			}
			return e.Value, nil
		} else {
			if c.o.StaleWhileRevalidate > 0 && now < e.Fresh+int64(c.o.StaleWhileRevalidate) {
				c.st.hits.Add(1)
				c.st.staleHits.Add(1)
				c.refreshInBackground(ctx, key, loader)
				return e.Value, nil
			}
			if c.o.StaleIfError > 0 && now < e.Fresh+int64(c.o.StaleIfError) {
				stale = &e
			}
		}
	}
	c.st.misses.Add(1)
	v, err := c.load(ctx, key, loader, true)
	if err != nil && stale != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
		c.st.staleHits.Add(1)
		return stale.Value, nil
	}
	return v, err
}

// shouldRefreshEarly decides refresh-ahead and XFetch for a fresh entry.
func (c *Cache[K, V]) shouldRefreshEarly(e Entry[V], now int64) bool {
	if e.Fresh == 0 {
		return false
	}
	if c.o.RefreshAhead > 0 && e.Stored > 0 && e.Fresh > e.Stored {
		total := float64(e.Fresh - e.Stored)
		if float64(now-e.Stored) >= c.o.RefreshAhead*total {
			return true
		}
	}
	if c.o.EarlyExpiration > 0 && e.Delta > 0 {
		r := rand.Float64()
		if r == 0 {
			r = math.SmallestNonzeroFloat64
		}
		if float64(now)-float64(e.Delta)*c.o.EarlyExpiration*math.Log(r) >= float64(e.Fresh) {
			return true
		}
	}
	return false
}

// refreshInBackground reloads key once: a second request while a refresh of
// the key runs is ignored.
func (c *Cache[K, V]) refreshInBackground(ctx context.Context, key K, loader LoaderFunc[K, V]) {
	c.mu.Lock()
	if _, busy := c.refreshing[key]; busy || c.closed.Load() {
		c.mu.Unlock()
		return
	}
	c.refreshing[key] = struct{}{}
	c.bg.Add(1)
	c.mu.Unlock()
	c.st.refreshes.Add(1)
	bctx := context.WithoutCancel(ctx)
	go func() {
		defer c.bg.Done()
		_, _ = c.load(bctx, key, loader, false)
		c.mu.Lock()
		delete(c.refreshing, key)
		c.mu.Unlock()
	}()
}

// load runs loader for key through the singleflight group and stores the
// result. With recheck, a new flight first looks at the store again: a
// caller that missed just before another flight stored its value must not
// load a second time.
func (c *Cache[K, V]) load(ctx context.Context, key K, loader LoaderFunc[K, V], recheck bool) (V, error) {
	c.mu.Lock()
	f, ok := c.flights[key]
	if !ok && c.closed.Load() {
		c.mu.Unlock()
		var zero V
		return zero, ErrClosed
	}
	if !ok {
		f = &flight[V]{done: make(chan struct{})}
		c.flights[key] = f
		c.bg.Add(1)
		go c.run(context.WithoutCancel(ctx), key, loader, f, recheck)
	}
	f.waiters++
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

func (c *Cache[K, V]) run(ctx context.Context, key K, loader LoaderFunc[K, V], f *flight[V], recheck bool) {
	defer c.bg.Done()
	defer func() {
		c.mu.Lock()
		delete(c.flights, key)
		c.mu.Unlock()
		close(f.done)
	}()
	if recheck {
		if e, ok, err := c.b.get(ctx, key); err == nil && ok && c.isFresh(e, c.now()) {
			if e.Absent {
				f.err = ErrNotFound
			} else {
				f.val = e.Value
			}
			return
		}
	}
	c.st.loads.Add(1)
	ctx, span := otelx.Start(ctx, c.tracer, "cache.Load", append(c.attrs, attribute.String("scalekit.cache.key", fmt.Sprint(key)))...)
	start := c.clk.Now()
	v, err := callLoader(ctx, key, loader)
	delta := c.clk.Since(start)
	otelx.End(span, err)
	switch {
	case err == nil:
		f.val = v
		e, phys := c.entryFor(v, c.ttl(c.o.TTL), delta)
		if serr := c.b.set(ctx, key, e, phys); serr != nil {
			c.st.storeErrors.Add(1)
		}
	case errors.Is(err, ErrNotFound):
		f.err = err
		if c.o.NegativeTTL > 0 {
			e := Entry[V]{Absent: true, Fresh: c.now() + int64(c.o.NegativeTTL)}
			if serr := c.b.set(ctx, key, e, c.o.NegativeTTL); serr != nil {
				c.st.storeErrors.Add(1)
			}
		}
	default:
		c.st.loadErrors.Add(1)
		f.err = fmt.Errorf("cache: load %v: %w", key, err)
	}
}

func callLoader[K comparable, V any](ctx context.Context, key K, loader LoaderFunc[K, V]) (v V, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return loader(ctx, key)
}

// Warm loads keys with loader and stores them, replacing what is cached
// (pre-warming before traffic, or on a schedule before a known peak). Keys
// already being loaded share that load. It returns the errors of the keys
// that failed, joined; ErrNotFound keys are cached as negative entries when
// NegativeTTL is set and are not errors.
func (c *Cache[K, V]) Warm(ctx context.Context, keys []K, loader LoaderFunc[K, V]) error {
	if loader == nil {
		return ErrNilLoader
	}
	var errs []error
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := c.load(ctx, k, loader, false); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
