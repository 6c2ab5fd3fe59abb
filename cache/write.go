package cache

import "context"

// WriterFunc writes value under key to the source of truth.
type WriterFunc[K comparable, V any] func(ctx context.Context, key K, value V) error

// WriteThrough writes value to the source with write and, once that
// succeeds, to the cache, so the next read hits. If the source write fails
// nothing is cached and the error is returned. If the cache write fails the
// entry is deleted (best effort) so no stale value survives, and the cache
// error is returned.
func (c *Cache[K, V]) WriteThrough(ctx context.Context, key K, value V, write WriterFunc[K, V]) error {
	if write == nil {
		return ErrNilLoader
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if err := write(ctx, key, value); err != nil {
		return opErr(ctx, err, "write-through %v", key)
	}
	if err := c.Set(ctx, key, value); err != nil {
		_ = c.b.del(ctx, key)
		return err
	}
	return nil
}

// WriteAround writes value to the source with write and invalidates the
// cached entry instead of filling it: the next read loads the new value.
// Use it for data written often and read rarely, so writes do not churn the
// cache.
func (c *Cache[K, V]) WriteAround(ctx context.Context, key K, value V, write WriterFunc[K, V]) error {
	if write == nil {
		return ErrNilLoader
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if err := write(ctx, key, value); err != nil {
		return opErr(ctx, err, "write-around %v", key)
	}
	return c.Delete(ctx, key)
}
