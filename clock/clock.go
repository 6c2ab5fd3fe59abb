package clock

import (
	"context"
	"time"
)

// Clock is the subset of the time package that scalekit uses.
// Implementations are safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Since returns the time elapsed since t.
	Since(t time.Time) time.Duration
	// NewTimer creates a Timer that fires once after d.
	NewTimer(d time.Duration) Timer
	// NewTicker creates a Ticker that fires every d. d must be positive.
	NewTicker(d time.Duration) Ticker
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer mirrors *time.Timer with the channel behind a method.
type Timer interface {
	// C returns the channel the timer fires on; nil for AfterFunc timers.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was active.
	Stop() bool
	// Reset changes the timer to fire after d; it reports whether it was active.
	Reset(d time.Duration) bool
}

// Ticker mirrors *time.Ticker with the channel behind a method.
type Ticker interface {
	// C returns the channel the ticks are delivered on.
	C() <-chan time.Time
	// Stop turns the ticker off.
	Stop()
	// Reset stops the ticker and restarts it with period d.
	Reset(d time.Duration)
}

// Real returns the Clock backed by the time package.
func Real() Clock { return realClock{} }

// Or returns c, or Real() when c is nil. Constructors use it to apply the
// "nil means real time" default of their Clock options.
func Or(c Clock) Clock {
	if c == nil {
		return realClock{}
	}
	return c
}

// Sleep blocks for d on clock c or until ctx ends, whichever is first. It
// returns ctx.Err() when the context ended first, nil otherwise. A
// non-positive d returns immediately (after checking ctx).
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

type realClock struct{}

func (realClock) Now() time.Time                  { return time.Now() }
func (realClock) Since(t time.Time) time.Duration { return time.Since(t) }
func (realClock) NewTimer(d time.Duration) Timer  { return realTimer{time.NewTimer(d)} }
func (realClock) NewTicker(d time.Duration) Ticker {
	return realTicker{time.NewTicker(d)}
}
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }

// IsReal reports whether c is the real clock (Real() or nil). Code that may
// spin-wait for a few microseconds does so only on the real clock; on a fake
// clock it parks on a timer so that tests can advance time.
func IsReal(c Clock) bool {
	_, ok := Or(c).(realClock)
	return ok
}
