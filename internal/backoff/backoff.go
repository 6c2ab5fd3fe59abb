package backoff

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/scalekit-go/scalekit/clock"
)

// Policy describes a backoff schedule. The zero value is usable: it means
// Initial 100ms, Multiplier 2, Max 10s, full jitter on, no elapsed limit and
// no attempt limit.
type Policy struct {
	// Initial is the base delay of the first retry (default 100ms).
	Initial time.Duration
	// Max caps every delay (default 10s).
	Max time.Duration
	// Multiplier is the growth factor per attempt (default 2; values < 1 mean 2).
	Multiplier float64
	// MaxElapsed stops retrying once this much time has passed since the
	// first attempt (0 means no limit).
	MaxElapsed time.Duration
	// MaxAttempts stops after this many attempts in total (0 means no limit).
	MaxAttempts int
	// NoJitter disables full jitter, so delays are exactly Initial*Multiplier^n
	// capped at Max. Jitter is on by default because synchronized retries
	// from many clients are a thundering herd.
	NoJitter bool
}

func (p Policy) withDefaults() Policy {
	if p.Initial <= 0 {
		p.Initial = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 10 * time.Second
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	if p.Multiplier < 1 {
		p.Multiplier = 2
	}
	return p
}

// Ceiling returns the un-jittered delay for the given retry number
// (0 for the first retry): min(Max, Initial*Multiplier^attempt).
func (p Policy) Ceiling(attempt int) time.Duration {
	p = p.withDefaults()
	if attempt < 0 {
		attempt = 0
	}
	d := float64(p.Initial) * math.Pow(p.Multiplier, float64(attempt))
	if d >= float64(p.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		return p.Max
	}
	return time.Duration(d)
}

// Delay returns the delay before retry number attempt (0-based): with full
// jitter a uniformly random duration in [0, Ceiling(attempt)], otherwise
// Ceiling(attempt). It is safe for concurrent use.
func (p Policy) Delay(attempt int) time.Duration {
	c := p.Ceiling(attempt)
	if p.NoJitter || c <= 0 {
		return c
	}
	return time.Duration(rand.Int64N(int64(c) + 1))
}

// Backoff tracks the attempts of one retry loop. It is not safe for
// concurrent use; create one per loop with New.
type Backoff struct {
	p       Policy
	clk     clock.Clock
	start   time.Time
	attempt int
}

// New starts a retry loop under p on clk (nil means the real clock).
func New(p Policy, clk clock.Clock) *Backoff {
	clk = clock.Or(clk)
	return &Backoff{p: p, clk: clk, start: clk.Now()}
}

// Next returns the delay before the next attempt, or false when the policy's
// attempt or elapsed-time limit forbids another one. A delay that would end
// past MaxElapsed is shortened to end at it.
func (b *Backoff) Next() (time.Duration, bool) {
	b.attempt++
	if b.p.MaxAttempts > 0 && b.attempt >= b.p.MaxAttempts {
		return 0, false
	}
	d := b.p.Delay(b.attempt - 1)
	if b.p.MaxElapsed > 0 {
		left := b.p.MaxElapsed - b.clk.Since(b.start)
		if left <= 0 {
			return 0, false
		}
		if d > left {
			d = left
		}
	}
	return d, true
}

// Attempt returns how many times Next has been called since New or Reset.
func (b *Backoff) Attempt() int { return b.attempt }

// Reset starts the schedule again from the first delay.
func (b *Backoff) Reset() {
	b.attempt = 0
	b.start = b.clk.Now()
}

// permanent marks an error that must not be retried.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent wraps err so that Retry returns it at once instead of retrying.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// Retry calls fn until it returns nil, a Permanent error, the policy gives up,
// or ctx ends. It returns nil on success; the unwrapped error of a Permanent
// failure; the last error of fn when the policy gives up; or ctx.Err() when
// the context ended while waiting.
func Retry(ctx context.Context, p Policy, clk clock.Clock, fn func(context.Context) error) error {
	b := New(p, clk)
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		var pe *permanent
		if errors.As(err, &pe) {
			return pe.err
		}
		d, ok := b.Next()
		if !ok {
			return err
		}
		if serr := clock.Sleep(ctx, b.clk, d); serr != nil {
			return serr
		}
	}
}
