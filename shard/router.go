package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/shard/driver"
)

// RouterOptions configures NewRouter. Nil means defaults.
type RouterOptions struct {
	// Clock drives polling; nil means real time.
	Clock clock.Clock
	// PollInterval is how often Run reloads the map even without a
	// notification (notifications can be lost); 0 means 5s.
	PollInterval time.Duration
}

// Router routes keys through the current version of a named Map kept in a
// driver.MapStore. It holds an immutable snapshot and swaps it atomically,
// so Lookup never blocks and never sees a half-applied change; versions
// only move forward, even when loads race. Safe for concurrent use.
type Router struct {
	store driver.MapStore
	name  string
	clk   clock.Clock
	poll  time.Duration
	cur   atomic.Pointer[Map]
	mu    sync.Mutex // serialises Publish's read-modify-write per router
	swaps atomic.Int64
}

// NewRouter returns a router for the map called name in store. It does no
// I/O: call Sync (or Run) before routing.
func NewRouter(store driver.MapStore, name string, opts *RouterOptions) (*Router, error) {
	if store == nil {
		return nil, fmt.Errorf("shard.NewRouter: nil store: %w", ErrBadArgument)
	}
	if name == "" {
		return nil, fmt.Errorf("shard.NewRouter: empty map name: %w", ErrBadArgument)
	}
	r := &Router{store: store, name: name, clk: clock.Real(), poll: 5 * time.Second}
	if opts != nil {
		if opts.Clock != nil {
			r.clk = opts.Clock
		}
		if opts.PollInterval < 0 {
			return nil, fmt.Errorf("shard.NewRouter: PollInterval %v: %w", opts.PollInterval, ErrBadArgument)
		}
		if opts.PollInterval > 0 {
			r.poll = opts.PollInterval
		}
	}
	return r, nil
}

// Map returns the current snapshot, nil before the first successful Sync.
func (r *Router) Map() *Map { return r.cur.Load() }

// Version returns the current snapshot's version (0 before any).
func (r *Router) Version() int64 {
	if m := r.cur.Load(); m != nil {
		return m.version
	}
	return 0
}

// Lookup returns the logical shard and node of key in the current
// snapshot; ErrNoShard before the first Sync.
func (r *Router) Lookup(key string) (logical int, node string, err error) {
	m := r.cur.Load()
	if m == nil {
		return 0, "", fmt.Errorf("shard.Router.Lookup: map %q not loaded: %w", r.name, ErrNoShard)
	}
	l, n := m.Lookup(key)
	return l, n, nil
}

// LookupRead is Lookup for reads: during a move whose reads were switched
// first, the read node differs from the write node.
func (r *Router) LookupRead(key string) (logical int, node string, err error) {
	m := r.cur.Load()
	if m == nil {
		return 0, "", fmt.Errorf("shard.Router.LookupRead: map %q not loaded: %w", r.name, ErrNoShard)
	}
	l, n := m.LookupRead(key)
	return l, n, nil
}

// install swaps in m if it is newer than the current snapshot.
func (r *Router) install(m *Map) bool {
	for {
		old := r.cur.Load()
		if old != nil && old.version >= m.version {
			return false
		}
		if r.cur.CompareAndSwap(old, m) {
			r.swaps.Add(1)
			return true
		}
	}
}

// Sync loads the stored map and installs it if newer. A store with no map
// yet leaves the router empty without error.
func (r *Router) Sync(ctx context.Context) (err error) {
	ctx, span := StartSpan(ctx, "shard", "Router.Sync", r.name)
	defer func() { EndSpan(span, err) }()
	t, err := r.store.Load(ctx, r.name)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("shard.Router.Sync %q: %w", r.name, err)
	}
	if t.Version == 0 {
		return nil
	}
	m, err := FromTable(t)
	if err != nil {
		return fmt.Errorf("shard.Router.Sync %q: stored map: %w", r.name, err)
	}
	r.install(m)
	return nil
}

// Publish stores m as the next version (m.Version() must be the stored
// version + 1) and installs it locally. Another publisher having moved
// first is ErrConflict: reload, re-plan, retry.
func (r *Router) Publish(ctx context.Context, m *Map) (err error) {
	ctx, span := StartSpan(ctx, "shard", "Router.Publish", r.name)
	defer func() { EndSpan(span, err) }()
	if m == nil || len(m.nodes) == 0 {
		return fmt.Errorf("shard.Router.Publish: empty map: %w", ErrBadArgument)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	err = r.store.CompareAndSwap(ctx, r.name, m.version-1, m.ToTable())
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, driver.ErrConflict) {
			return fmt.Errorf("shard.Router.Publish %q v%d: %w (%w)", r.name, m.version, ErrConflict, err)
		}
		return fmt.Errorf("shard.Router.Publish %q v%d: %w", r.name, m.version, err)
	}
	r.install(m)
	return nil
}

// Run keeps the snapshot current until ctx ends: it syncs on every store
// notification and at least every PollInterval (notifications may be
// lost), and re-opens a broken watch. It returns ctx.Err().
func (r *Router) Run(ctx context.Context) error {
	for {
		ch, stop, err := r.store.Watch(ctx, r.name)
		if err != nil {
			ch, stop = nil, func() {}
		}
		_ = r.Sync(ctx) // errors retried at the next tick
		broken := r.loop(ctx, ch)
		stop()
		if !broken {
			return ctx.Err()
		}
	}
}

// loop waits for notifications and ticks; it returns true when the watch
// broke (channel closed or never opened) and should be re-opened.
func (r *Router) loop(ctx context.Context, ch <-chan struct{}) bool {
	for {
		t := r.clk.NewTimer(r.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case _, ok := <-ch:
			t.Stop()
			if !ok {
				ch = nil // broken: poll, re-open at the next tick
				continue
			}
			_ = r.Sync(ctx)
		case <-t.C():
			_ = r.Sync(ctx)
			if ch == nil {
				return true
			}
		}
	}
}
