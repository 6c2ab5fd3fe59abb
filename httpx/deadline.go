package httpx

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// lazyDeadline is a context with a deadline whose timer is only started
// when someone needs it. Most requests finish without anything waiting on
// ctx.Done(); for them a context.WithDeadline would allocate a timer
// context and a runtime timer, arm it and disarm it for nothing. Deadline
// reports the deadline at once (so database drivers and outgoing calls
// that read it pay nothing either); the first call to Done, or an Err or
// Value lookup that must observe cancellation, builds the real
// context.WithDeadline and everything afterwards delegates to it, so Done,
// Err, Cause and child contexts behave exactly as with WithDeadline.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time
	real     atomic.Pointer[context.Context]
	mu       sync.Mutex
	cancel   context.CancelFunc
	released bool
}

func newLazyDeadline(parent context.Context, d time.Time) *lazyDeadline {
	if pd, ok := parent.Deadline(); ok && pd.Before(d) {
		d = pd
	}
	return &lazyDeadline{parent: parent, deadline: d}
}

// materialize returns the real context, creating it on first use.
func (c *lazyDeadline) materialize() context.Context {
	if p := c.real.Load(); p != nil {
		return *p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.real.Load(); p != nil {
		return *p
	}
	ctx, cancel := context.WithDeadline(c.parent, c.deadline)
	if c.released {
		cancel() // used after the request ended: behave as cancelled
	}
	c.cancel = cancel
	c.real.Store(&ctx)
	return ctx
}

// release cancels the context when the request ends.
func (c *lazyDeadline) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = true
	if c.cancel != nil {
		c.cancel()
	}
}

// expired reports whether the context must already be done: its deadline
// passed, its parent is done, or the request ended.
func (c *lazyDeadline) expired() bool {
	if !time.Now().Before(c.deadline) || c.parent.Err() != nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.released
}

// Deadline implements context.Context.
func (c *lazyDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context.
func (c *lazyDeadline) Done() <-chan struct{} { return c.materialize().Done() }

// Err implements context.Context.
func (c *lazyDeadline) Err() error {
	if p := c.real.Load(); p != nil {
		return (*p).Err()
	}
	if c.expired() {
		return c.materialize().Err()
	}
	return nil
}

// Value implements context.Context. A lookup of the context package's own
// cancellation key (an *int, used by context.Cause and by child contexts)
// sees the real context once the lazy one has expired.
func (c *lazyDeadline) Value(key any) any {
	if p := c.real.Load(); p != nil {
		return (*p).Value(key)
	}
	if _, internal := key.(*int); internal && c.expired() {
		return c.materialize().Value(key)
	}
	return c.parent.Value(key)
}

// String names the context for debugging.
func (c *lazyDeadline) String() string { return "httpx.lazyDeadline(" + c.deadline.String() + ")" }
