package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/shard/driver"
)

// DirectoryOptions configures NewDirectory. Nil means defaults.
type DirectoryOptions struct {
	// CacheTTL is how long a looked-up entry is served from the local
	// cache; 0 means 1s, negative disables the cache. Entries changed
	// through this Directory update its cache at once; changes made by
	// other processes are seen within CacheTTL.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached keys; 0 means 10000.
	CacheSize int
	// Clock drives cache expiry; nil means real time.
	Clock clock.Clock
}

// Directory is directory-based sharding: a lookup table from key to node
// kept in a driver.Directory (memory or PostgreSQL), with a small local
// cache. Every entry carries a version, so moves are compare-and-swap and a
// stale writer cannot undo a newer assignment. Safe for concurrent use.
type Directory struct {
	d    driver.Directory
	name string
	ttl  time.Duration
	size int
	clk  clock.Clock

	mu    sync.Mutex
	cache map[string]dirEntry
}

type dirEntry struct {
	e       driver.Entry
	expires time.Time
}

// NewDirectory returns a directory called name over d. It does no I/O.
func NewDirectory(d driver.Directory, name string, opts *DirectoryOptions) (*Directory, error) {
	if d == nil || name == "" {
		return nil, fmt.Errorf("shard.NewDirectory: nil driver or empty name: %w", ErrBadArgument)
	}
	x := &Directory{d: d, name: name, ttl: time.Second, size: 10000, clk: clock.Real(), cache: map[string]dirEntry{}}
	if opts != nil {
		if opts.CacheTTL != 0 {
			x.ttl = opts.CacheTTL
		}
		if opts.CacheSize < 0 {
			return nil, fmt.Errorf("shard.NewDirectory: CacheSize %d: %w", opts.CacheSize, ErrBadArgument)
		}
		if opts.CacheSize > 0 {
			x.size = opts.CacheSize
		}
		if opts.Clock != nil {
			x.clk = opts.Clock
		}
	}
	return x, nil
}

func (x *Directory) cached(key string) (driver.Entry, bool) {
	if x.ttl < 0 {
		return driver.Entry{}, false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	c, ok := x.cache[key]
	if !ok || !x.clk.Now().Before(c.expires) {
		return driver.Entry{}, false
	}
	return c.e, true
}

func (x *Directory) remember(key string, e driver.Entry) {
	if x.ttl < 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.cache[key]; ok && old.e.Version > e.Version {
		return // a newer entry already cached: never go backwards
	}
	if len(x.cache) >= x.size {
		for k := range x.cache { // evict an arbitrary entry
			delete(x.cache, k)
			break
		}
	}
	x.cache[key] = dirEntry{e: e, expires: x.clk.Now().Add(x.ttl)}
}

func (x *Directory) forget(key string) {
	x.mu.Lock()
	delete(x.cache, key)
	x.mu.Unlock()
}

func (x *Directory) wrap(ctx context.Context, op, key string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, driver.ErrConflict) {
		return fmt.Errorf("shard.Directory.%s %q: %w (%w)", op, key, ErrConflict, err)
	}
	return fmt.Errorf("shard.Directory.%s %q: %w", op, key, err)
}

// Lookup returns the node of key and the entry's version; ErrNotFound if
// the key has no entry.
func (x *Directory) Lookup(ctx context.Context, key string) (node string, version int64, err error) {
	if key == "" {
		return "", 0, fmt.Errorf("shard.Directory.Lookup: empty key: %w", ErrBadArgument)
	}
	if e, ok := x.cached(key); ok {
		return e.Node, e.Version, nil
	}
	sctx, span := StartSpan(ctx, "shard", "Directory.Lookup", x.name)
	e, found, err := x.d.Get(sctx, x.name, key)
	EndSpan(span, err)
	if err != nil {
		return "", 0, x.wrap(ctx, "Lookup", key, err)
	}
	if !found {
		return "", 0, fmt.Errorf("shard.Directory.Lookup %q: %w", key, ErrNotFound)
	}
	x.remember(key, e)
	return e.Node, e.Version, nil
}

// Assign points key at node if the key's version is still expect (0: the
// key must be new; -1: unconditionally) and returns the new version.
func (x *Directory) Assign(ctx context.Context, key, node string, expect int64) (int64, error) {
	if key == "" || node == "" || expect < -1 {
		return 0, fmt.Errorf("shard.Directory.Assign: key %q node %q expect %d: %w", key, node, expect, ErrBadArgument)
	}
	v, err := x.d.Put(ctx, x.name, key, node, expect)
	if err != nil {
		x.forget(key)
		return 0, x.wrap(ctx, "Assign", key, err)
	}
	x.remember(key, driver.Entry{Node: node, Version: v})
	return v, nil
}

// Remove deletes key's entry if its version is expect (-1: any).
func (x *Directory) Remove(ctx context.Context, key string, expect int64) error {
	if key == "" || expect < -1 {
		return fmt.Errorf("shard.Directory.Remove: key %q expect %d: %w", key, expect, ErrBadArgument)
	}
	x.forget(key)
	err := x.d.Delete(ctx, x.name, key, expect)
	x.forget(key) // a Lookup racing the delete may have re-cached it
	if err != nil {
		return x.wrap(ctx, "Remove", key, err)
	}
	return nil
}
