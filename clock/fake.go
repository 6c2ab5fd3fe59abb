package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Fake is a manually driven Clock for tests. Time stands still until Advance
// or Set moves it; timers, tickers and AfterFunc callbacks whose deadline has
// been reached fire, in deadline order, during that call. Set may move time
// backwards (to test clock-skew handling); timers never fire on a backwards
// move. A Fake is safe for concurrent use. The zero value is not usable; call
// NewFake.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeWaiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type fakeWaiter struct {
	fc       *Fake
	deadline time.Time
	period   time.Duration // >0 for tickers
	ch       chan time.Time
	fn       func()
	active   bool
}

// NewFake returns a Fake clock set to t. A zero t selects a fixed, arbitrary
// instant (2020-01-01T00:00:00Z) so that tests are reproducible.
func NewFake(t time.Time) *Fake {
	if t.IsZero() {
		t = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &Fake{now: t, changed: make(chan struct{})}
}

// Now returns the fake current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns Now().Sub(t).
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// NewTimer returns a timer that fires when the fake time reaches Now()+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	return f.add(&fakeWaiter{fc: f, ch: make(chan time.Time, 1)}, d)
}

// NewTicker returns a ticker with period d on the fake clock. It panics if
// d <= 0, like time.NewTicker.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	return f.add(&fakeWaiter{fc: f, period: d, ch: make(chan time.Time, 1)}, d).asTicker()
}

// AfterFunc calls fn in its own goroutine once fake time reaches Now()+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	return f.add(&fakeWaiter{fc: f, fn: fn}, d)
}

func (f *Fake) add(w *fakeWaiter, d time.Duration) *fakeWaiter {
	f.mu.Lock()
	w.deadline = f.now.Add(d)
	w.active = true
	f.waiters = append(f.waiters, w)
	f.notifyLocked()
	f.mu.Unlock()
	if d <= 0 {
		f.Advance(0)
	}
	return w
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Fake) removeLocked(w *fakeWaiter) bool {
	for i, x := range f.waiters {
		if x == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			f.notifyLocked()
			return true
		}
	}
	return false
}

// Advance moves the fake time forward by d and fires everything that is due.
// A negative d panics; use Set to move backwards.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		panic("clock: Advance with negative duration; use Set")
	}
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.runUntil(target)
}

// Set moves the fake time to t. Moving forward fires what is due; moving
// backwards fires nothing and leaves pending deadlines where they are.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	if t.Before(f.now) {
		f.now = t
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	f.runUntil(t)
}

func (f *Fake) runUntil(target time.Time) {
	for {
		f.mu.Lock()
		sort.SliceStable(f.waiters, func(i, j int) bool {
			return f.waiters[i].deadline.Before(f.waiters[j].deadline)
		})
		if len(f.waiters) == 0 || f.waiters[0].deadline.After(target) {
			if target.After(f.now) {
				f.now = target
			}
			f.mu.Unlock()
			return
		}
		w := f.waiters[0]
		if w.deadline.After(f.now) {
			f.now = w.deadline
		}
		now := f.now
		if w.period > 0 {
			w.deadline = w.deadline.Add(w.period)
		} else {
			f.waiters = f.waiters[1:]
			w.active = false
			f.notifyLocked()
		}
		f.mu.Unlock()
		switch {
		case w.fn != nil:
			go w.fn()
		default:
			select { // like time.Ticker, drop ticks a slow reader missed
			case w.ch <- now:
			default:
			}
		}
	}
}

// Waiters returns the number of pending timers, tickers and AfterFunc calls.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil blocks until at least n timers, tickers or AfterFunc calls are
// pending on f, or ctx ends (then it returns ctx.Err()). Tests call it to wait
// until the code under test has parked on the clock before advancing it.
func (f *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		if len(f.waiters) >= n {
			f.mu.Unlock()
			return nil
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (w *fakeWaiter) C() <-chan time.Time { return w.ch }

func (w *fakeWaiter) Stop() bool {
	f := w.fc
	f.mu.Lock()
	defer f.mu.Unlock()
	w.active = false
	return f.removeLocked(w)
}

func (w *fakeWaiter) Reset(d time.Duration) bool {
	f := w.fc
	f.mu.Lock()
	was := f.removeLocked(w)
	if w.period > 0 {
		w.period = d
	}
	w.deadline = f.now.Add(d)
	w.active = true
	f.waiters = append(f.waiters, w)
	f.notifyLocked()
	f.mu.Unlock()
	if d <= 0 {
		f.Advance(0)
	}
	return was
}

// fakeTicker adapts a periodic waiter to Ticker, whose Stop has no result.
type fakeTicker struct{ *fakeWaiter }

var _ Clock = (*Fake)(nil)
var _ Timer = (*fakeWaiter)(nil)

func (w *fakeWaiter) asTicker() Ticker { return fakeTicker{w} }

func (t fakeTicker) Stop()                 { t.fakeWaiter.Stop() }
func (t fakeTicker) Reset(d time.Duration) { t.fakeWaiter.Reset(d) }
