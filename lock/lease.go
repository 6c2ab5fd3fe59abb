package lock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/backoff"
	"github.com/scalekit-go/scalekit/lock/driver"
)

// Lease is a held lock: a key, the fencing token of this acquisition, and a
// lease on the engine that is renewed in the background until Release.
//
// The lease is counted as valid until a safety margin (a tenth of the TTL)
// before the engine's expiry, measured from the start of the last
// successful acquisition or renewal call. If renewals fail until then, or
// the engine refuses one because the key is gone or has another owner, the
// lease is lost: Done is closed and Err says why. Work protected by the
// lease must stop when Done is closed, and writes to the protected resource
// should carry Token so that the resource can reject a holder that did not
// notice in time (see Fence).
//
// A Lease is safe for concurrent use.
type Lease struct {
	lk    *Locker
	key   string
	owner string
	meta  string
	token int64
	ttl   time.Duration
	every time.Duration
	renew bool
	done  chan struct{}

	mu      sync.Mutex
	state   leaseState
	err     error
	valid   time.Time   // local deadline of the lease
	timer   clock.Timer // next renewal or expiry check
	retry   *backoff.Backoff
	lastErr error // of the last failed background renewal
}

type leaseState uint8

const (
	held leaseState = iota
	ended
)

// margin is the part of the TTL a lease gives up as a safety margin for
// clock-rate drift and network delay.
func margin(ttl time.Duration) time.Duration { return ttl / 10 }

func (lk *Locker) newLease(key, owner string, token int64, start time.Time, s settings) *Lease {
	l := &Lease{
		lk: lk, key: key, owner: owner, meta: s.meta, token: token,
		ttl: s.ttl, every: s.every, renew: s.renew,
		done:  make(chan struct{}),
		valid: start.Add(s.ttl - margin(s.ttl)),
	}
	l.mu.Lock()
	l.scheduleLocked(start, l.firstWait()) // start is close enough to now, and a clock read less
	l.mu.Unlock()
	return l
}

// Key returns the locked key.
func (l *Lease) Key() string { return l.key }

// Token returns the fencing token of this acquisition: larger than the
// token of every earlier acquisition of the key, by any holder.
func (l *Lease) Token() int64 { return l.token }

// Owner returns the unique id of this acquisition as stored on the engine.
func (l *Lease) Owner() string { return l.owner }

// Meta returns the holder metadata stored with the lease.
func (l *Lease) Meta() string { return l.meta }

// TTL returns the lease duration requested from the engine.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Done returns a channel that is closed when the lease is lost or released.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err returns nil while the lease is held. Afterwards it returns an error
// wrapping ErrLeaseLost (with the reason) if the lease was lost, or one
// wrapping ErrReleased after Release. Err checks the validity deadline
// itself, so it reports the loss even if the background goroutine that
// closes Done has not run yet (on an overloaded machine, say): nil from
// Err means the lease was valid at the time of the call.
func (l *Lease) Err() error {
	l.mu.Lock()
	expired := l.state == held && !l.lk.clk.Now().Before(l.valid)
	l.mu.Unlock()
	if expired {
		l.loseExpired()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// loseExpired marks the lease lost because its validity ran out.
func (l *Lease) loseExpired() {
	l.mu.Lock()
	last := l.lastErr
	l.mu.Unlock()
	if last != nil {
		l.lose(fmt.Errorf("%w: %q: renewal failed until its validity ran out: %w", ErrLeaseLost, l.key, last))
	} else {
		l.lose(fmt.Errorf("%w: %q: not renewed before its validity ran out", ErrLeaseLost, l.key))
	}
}

// ValidUntil returns the local time until which the lease is known to be
// held: the start of the last successful acquisition or renewal plus the
// TTL minus the safety margin.
func (l *Lease) ValidUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.valid
}

// Renew extends the lease to its TTL now, in addition to the background
// renewals. A lease that is already lost or released returns its Err. If
// the engine refuses (the key is gone or has another owner) the lease is
// lost and the error wraps both ErrLeaseLost and ErrNotHeld. Other errors
// leave the lease valid until ValidUntil.
func (l *Lease) Renew(ctx context.Context) error {
	ctx, span := l.lk.start(ctx, "lock.Renew", l.key)
	err := l.renewOnce(ctx)
	end(span, err)
	return err
}

func (l *Lease) renewOnce(ctx context.Context) error {
	l.mu.Lock()
	if l.state != held {
		err := l.err
		l.mu.Unlock()
		return err
	}
	l.mu.Unlock()
	start := l.lk.clk.Now()
	err := l.lk.d.Renew(ctx, l.key, l.owner, l.ttl)
	switch {
	case err == nil:
		l.mu.Lock()
		if v := start.Add(l.ttl - margin(l.ttl)); v.After(l.valid) {
			l.valid = v
		}
		l.mu.Unlock()
		return nil
	case errors.Is(err, driver.ErrNotHeld):
		lost := fmt.Errorf("%w: %q: the engine refused renewal: %w", ErrLeaseLost, l.key, err)
		l.lose(lost)
		return lost
	default:
		return opErr(ctx, "renew", l.key, err)
	}
}

// Release ends the lease: it stops renewal and frees the key on the
// engine. It returns an error wrapping ErrNotHeld if the lease had been
// lost (expired, dropped, or taken by another owner) — the protected work
// may then have overlapped with another holder's. Done is closed either
// way. Releasing twice returns ErrNotHeld the second time.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	if l.state != held {
		cause := l.err
		l.mu.Unlock()
		return fmt.Errorf("lock: release %q: %w (%w)", l.key, ErrNotHeld, cause)
	}
	l.state = ended
	l.err = ErrReleased
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()

	ctx, span := l.lk.start(ctx, "lock.Release", l.key)
	err := l.lk.d.Release(ctx, l.key, l.owner)
	if err != nil && !errors.Is(err, driver.ErrNotHeld) && l.lk.retryable(err) && ctx.Err() == nil {
		err = backoff.Retry(ctx, backoff.Policy{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, MaxAttempts: 3}, l.lk.clk,
			func(ctx context.Context) error {
				err := l.lk.d.Release(ctx, l.key, l.owner)
				if err != nil && !l.lk.retryable(err) {
					return backoff.Permanent(err)
				}
				return err
			})
	}
	switch {
	case err == nil:
		l.finish(ErrReleased)
	case errors.Is(err, driver.ErrNotHeld):
		l.lk.lost.Add(context.Background(), 1, l.lk.nameOpt)
		l.finish(fmt.Errorf("%w: %q: not held at release: %w", ErrLeaseLost, l.key, err))
		err = fmt.Errorf("lock: release %q: %w", l.key, err)
	default:
		l.finish(fmt.Errorf("%w: %q (the engine release failed, the key stays locked until its TTL runs out: %v)", ErrReleased, l.key, err))
		err = opErr(ctx, "release", l.key, err)
	}
	end(span, err)
	return err
}

// lose marks a held lease lost with err.
func (l *Lease) lose(err error) {
	l.mu.Lock()
	if l.state != held {
		l.mu.Unlock()
		return
	}
	l.state = ended
	if l.timer != nil {
		l.timer.Stop()
	}
	l.err = err
	l.mu.Unlock()
	l.lk.lost.Add(context.Background(), 1, l.lk.nameOpt)
	close(l.done)
}

// finish records the final error of a released lease and closes Done.
func (l *Lease) finish(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
	close(l.done)
}

// firstWait is the delay before the first background renewal.
func (l *Lease) firstWait() time.Duration {
	if !l.renew {
		return l.ttl // capped at the validity deadline by scheduleLocked
	}
	return jitter(l.every)
}

// scheduleLocked arms the timer to run tick after wait, or at the validity
// deadline if that comes first. l.mu is held.
func (l *Lease) scheduleLocked(now time.Time, wait time.Duration) {
	if l.state != held {
		return
	}
	if left := l.valid.Sub(now); wait > left {
		wait = left
	}
	if l.timer == nil {
		l.timer = l.lk.clk.AfterFunc(wait, l.tick)
		return
	}
	l.timer.Reset(wait)
}

// tick runs on the renewal timer: it declares the lease lost once its
// validity has run out, and otherwise renews it.
func (l *Lease) tick() {
	l.mu.Lock()
	if l.state != held {
		l.mu.Unlock()
		return
	}
	valid := l.valid
	l.mu.Unlock()
	now := l.lk.clk.Now()
	if !now.Before(valid) {
		l.loseExpired()
		return
	}
	if !l.renew {
		l.mu.Lock()
		l.scheduleLocked(now, valid.Sub(now))
		l.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(l.every, valid.Sub(now)))
	err := l.renewOnce(ctx)
	cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != held {
		return
	}
	now = l.lk.clk.Now()
	if err == nil {
		l.retry, l.lastErr = nil, nil
		l.scheduleLocked(now, jitter(l.every))
		return
	}
	l.lastErr = err
	if l.retry == nil {
		l.retry = backoff.New(backoff.Policy{Initial: max(l.every/10, time.Millisecond), Max: l.every}, l.lk.clk)
	}
	d, _ := l.retry.Next()
	l.scheduleLocked(now, d) // capped at the validity deadline, where tick declares the loss
}

// jitter spreads d by ±10%.
func jitter(d time.Duration) time.Duration {
	span := int64(d) / 5
	if span <= 0 {
		return d
	}
	return d - time.Duration(span/2) + time.Duration(rand.Int64N(span+1))
}
