package memlock

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lock/driver"
)

// ErrTransient is a retryable error for fault injection: pass it (or an
// error wrapping it) to FailNext to simulate a timeout or a dropped
// connection. IsRetryable reports true for it.
var ErrTransient = errors.New("memlock: injected transient error")

// DefaultMaxKeyLen is the longest key accepted when Options.MaxKeyLen is 0.
const DefaultMaxKeyLen = 1024

// Options configures a Locker. A nil *Options means the defaults.
type Options struct {
	// Clock is the time source for lease expiry (default real). Tests
	// pass a *clock.Fake and the same clock to lock.Options.Clock.
	Clock clock.Clock
	// MaxKeyLen is the longest key accepted (default DefaultMaxKeyLen).
	MaxKeyLen int
	// MinTTL is the shortest lease accepted (default none beyond
	// package lock's own minimum).
	MinTTL time.Duration
}

// Locker is an in-process lock engine implementing driver.Locker,
// driver.Notifier, driver.Limited and driver.Retryable. Leases expire by
// its clock; fencing tokens count up per key and are kept after release
// (so memory grows with the number of distinct keys ever locked).
//
// A Locker is safe for concurrent use. The zero value is not usable; call
// New.
type Locker struct {
	clk    clock.Clock
	limits driver.Limits

	mu      sync.Mutex
	keys    map[string]*entry
	fail    []error // injected errors, returned by the next calls
	holders int
}

type entry struct {
	owner    string // "" when free
	meta     string
	token    int64 // token of the holder; the last one handed out
	deadline time.Time
	freed    chan struct{} // closed when the key is released; nil if nobody waits
}

var (
	_ driver.Locker    = (*Locker)(nil)
	_ driver.Notifier  = (*Locker)(nil)
	_ driver.Limited   = (*Locker)(nil)
	_ driver.Retryable = (*Locker)(nil)
)

// New returns an empty in-process lock engine.
func New(opts *Options) *Locker {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxKeyLen <= 0 {
		o.MaxKeyLen = DefaultMaxKeyLen
	}
	return &Locker{
		clk:    clock.Or(o.Clock),
		limits: driver.Limits{MaxKeyLen: o.MaxKeyLen, MinTTL: o.MinTTL},
		keys:   make(map[string]*entry),
	}
}

// Limits reports the key-length and TTL bounds from Options.
func (m *Locker) Limits() driver.Limits { return m.limits }

// IsRetryable reports whether err is (or wraps) ErrTransient.
func (m *Locker) IsRetryable(err error) bool { return errors.Is(err, ErrTransient) }

// injected returns the next injected error, if any. m.mu is held.
func (m *Locker) injectedLocked() error {
	if len(m.fail) == 0 {
		return nil
	}
	err := m.fail[0]
	m.fail = m.fail[1:]
	return err
}

// liveLocked returns the entry of key and whether it is held by a live
// lease; an expired lease is freed on the way. m.mu is held.
func (m *Locker) liveLocked(key string, now time.Time) (*entry, bool) {
	e := m.keys[key]
	if e == nil || e.owner == "" {
		return e, false
	}
	if !now.Before(e.deadline) {
		m.freeLocked(e)
		return e, false
	}
	return e, true
}

func (m *Locker) freeLocked(e *entry) {
	e.owner, e.meta = "", ""
	m.holders--
	if e.freed != nil {
		close(e.freed)
		e.freed = nil
	}
}

// TryAcquire implements driver.Locker.
func (m *Locker) TryAcquire(ctx context.Context, req driver.Request) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := m.clk.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.injectedLocked(); err != nil {
		return 0, err
	}
	e, live := m.liveLocked(req.Key, now)
	switch {
	case live && e.owner == req.Owner:
		e.deadline = now.Add(req.TTL)
		return e.token, nil
	case live:
		return 0, driver.ErrLocked
	case e == nil:
		e = &entry{}
		m.keys[req.Key] = e
	}
	e.owner, e.meta = req.Owner, req.Meta
	e.token++
	e.deadline = now.Add(req.TTL)
	m.holders++
	return e.token, nil
}

// Renew implements driver.Locker.
func (m *Locker) Renew(ctx context.Context, key, owner string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.clk.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.injectedLocked(); err != nil {
		return err
	}
	e, live := m.liveLocked(key, now)
	if !live || e.owner != owner {
		return driver.ErrNotHeld
	}
	e.deadline = now.Add(ttl)
	return nil
}

// Release implements driver.Locker.
func (m *Locker) Release(ctx context.Context, key, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.clk.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.injectedLocked(); err != nil {
		return err
	}
	e, live := m.liveLocked(key, now)
	if !live || e.owner != owner {
		return driver.ErrNotHeld
	}
	m.freeLocked(e)
	return nil
}

// Holder implements driver.Locker.
func (m *Locker) Holder(ctx context.Context, key string) (driver.Holder, bool, error) {
	if err := ctx.Err(); err != nil {
		return driver.Holder{}, false, err
	}
	now := m.clk.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.injectedLocked(); err != nil {
		return driver.Holder{}, false, err
	}
	e, live := m.liveLocked(key, now)
	if !live {
		return driver.Holder{}, false, nil
	}
	return driver.Holder{Owner: e.owner, Meta: e.meta, Token: e.token, TTL: e.deadline.Sub(now)}, true, nil
}

// Notify implements driver.Notifier: the channel is closed when key is
// released or found expired.
func (m *Locker) Notify(ctx context.Context, key string) (<-chan struct{}, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.keys[key]
	if e == nil {
		e = &entry{}
		m.keys[key] = e
	}
	if e.freed == nil {
		e.freed = make(chan struct{})
	}
	return e.freed, func() {}, nil
}

// Local implements driver.Local: the engine is in-process, so package lock
// starts no spans for it.
func (m *Locker) Local() {}
