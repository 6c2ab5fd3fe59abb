package algo

import (
	"math/bits"
	"time"

	"github.com/scalekit-go/scalekit/ratelimit/driver"
)

// State is the per-key state of one algorithm. The zero value is a key that
// has never been seen.
type State struct {
	init bool
	a    int64 // token bucket: last refill; GCRA: TAT; leaky: next free slot; windows: window index
	cur  int64 // token bucket: tokens·Period; windows: units admitted in window a
	prev int64 // sliding window: units admitted in window a-1
	log  stampLog
}

// Prepared is a validated Limit with the constants its decisions need
// computed once (GCRA's emission interval and burst tolerance), so the
// per-decision path does no division for them.
type Prepared struct {
	L    driver.Limit
	t    int64 // Interval in ns
	capT int64 // Burst·Interval
}

// Prepare returns l prepared for Allow. l must be valid.
func Prepare(l driver.Limit) Prepared {
	t := int64(l.Interval())
	return Prepared{L: l, t: t, capT: int64(l.Burst) * t}
}

// Reset makes s a never-seen state again, keeping a sliding log's buffer
// for reuse.
func (s *State) Reset() {
	buf := s.log.buf
	*s = State{}
	s.log.buf = buf
}

// Allow decides n units at time now under p, updating s when admitted.
// The caller has validated 1 ≤ n ≤ p.L.Capacity().
func (p *Prepared) Allow(s *State, now int64, n int) driver.Decision {
	var d driver.Decision
	p.AllowInto(&d, s, now, n)
	return d
}

// AllowInto is Allow writing the decision to *d (one copy fewer on the hot
// path); *d must be the zero Decision.
func (p *Prepared) AllowInto(d *driver.Decision, s *State, now int64, n int) {
	if p.L.Algorithm == driver.GCRA {
		gcraInto(d, p.L.Burst, p.t, p.capT, s, now, n)
		return
	}
	*d = p.allowOther(s, now, n)
}

// gcraInto is gcra without the queue, writing to *d.
func gcraInto(d *driver.Decision, burst int, t, capT int64, s *State, now int64, n int) {
	tat := now
	if s.init && s.a > now {
		tat = s.a
	}
	newTat := tat + int64(n)*t
	d.Limit = burst
	if allowAt := newTat - capT; allowAt > now {
		d.RetryAfter = dur(allowAt - now)
		d.Remaining = int(max(0, capT-(tat-now)) / t)
		d.ResetAfter = dur(tat - now)
		return
	}
	s.init, s.a = true, newTat
	d.Allowed = true
	d.Remaining = int(max(0, capT-(newTat-now)) / t)
	d.ResetAfter = time.Duration(newTat - now) // ≥ 0: newTat > tat ≥ now
}

func (p *Prepared) allowOther(s *State, now int64, n int) driver.Decision {
	l := p.L
	switch l.Algorithm {
	case driver.TokenBucket:
		return tokenBucket(l, s, now, n)
	case driver.LeakyBucket:
		return gcra(l.Burst, p.t, p.capT, s, now, n, true)
	case driver.FixedWindow:
		return fixed(l, s, now, n)
	case driver.SlidingLog:
		return slidingLog(l, s, now, n)
	case driver.SlidingWindow:
		return slidingWindow(l, s, now, n)
	}
	return driver.Decision{}
}

// Idle reports whether s at time now behaves exactly like a fresh state, so
// that dropping it changes no future decision.
func Idle(l driver.Limit, s *State, now int64) bool {
	if !s.init {
		return true
	}
	p := int64(l.Period)
	switch l.Algorithm {
	case driver.TokenBucket:
		refill(l, s, now)
		return s.cur == int64(l.Burst)*p
	case driver.GCRA, driver.LeakyBucket:
		return s.a <= now
	case driver.FixedWindow:
		return s.cur == 0 || floorDiv(now, p) > s.a
	case driver.SlidingLog:
		t, ok := s.log.newest()
		return !ok || t+p <= now
	case driver.SlidingWindow:
		idx := floorDiv(now, p)
		return idx >= s.a+2 || (idx == s.a+1 && s.cur == 0) || (idx == s.a && s.cur == 0 && s.prev == 0)
	}
	return true
}

// refill brings a token bucket's state to now. Tokens are counted in units
// of 1/Period, so that refilling Rate tokens per Period is exactly Rate per
// nanosecond: no rounding, ever. A clock that went back refills nothing.
func refill(l driver.Limit, s *State, now int64) {
	full := int64(l.Burst) * int64(l.Period)
	if !s.init {
		s.init, s.a, s.cur = true, now, full
		return
	}
	if now <= s.a {
		return
	}
	need := full - s.cur
	if el := now - s.a; el >= ceilDiv(need, int64(l.Rate)) {
		s.cur = full
	} else {
		s.cur += el * int64(l.Rate)
	}
	s.a = now
}

// tokenBucket admits n units iff n whole tokens are present at now.
func tokenBucket(l driver.Limit, s *State, now int64, n int) driver.Decision {
	refill(l, s, now)
	p, r := int64(l.Period), int64(l.Rate)
	full := int64(l.Burst) * p
	want := int64(n) * p
	d := driver.Decision{Limit: l.Burst}
	if s.cur >= want {
		s.cur -= want
		d.Allowed = true
	} else {
		d.RetryAfter = dur(ceilDiv(want-s.cur, r))
	}
	d.Remaining = int(s.cur / p)
	d.ResetAfter = dur(ceilDiv(full-s.cur, r))
	return d
}

func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

// gcra is the virtual-scheduling GCRA. tat is the theoretical arrival time
// of the next unit; a request of n units is admitted iff
// max(tat, now) + n·T - B·T ≤ now. With queue set it is the leaky bucket as
// a queue: the same admission, and the admitted request's slot starts at
// max(tat, now), returned as Delay.
func gcra(burst int, t, capT int64, s *State, now int64, n int, queue bool) driver.Decision {
	tat := now
	if s.init && s.a > now {
		tat = s.a
	}
	newTat := tat + int64(n)*t
	d := driver.Decision{Limit: burst}
	if allowAt := newTat - capT; allowAt > now {
		d.RetryAfter = dur(allowAt - now)
		d.Remaining = int(max(0, capT-(tat-now)) / t) // < 0 only if the clock went back
		d.ResetAfter = dur(tat - now)
		return d
	}
	s.init, s.a = true, newTat
	d.Allowed = true
	d.Remaining = int(max(0, capT-(newTat-now)) / t)
	d.ResetAfter = dur(newTat - now)
	if queue {
		d.Delay = dur(tat - now)
	}
	return d
}

// fixed admits at most Rate units per aligned window [kP, (k+1)P).
func fixed(l driver.Limit, s *State, now int64, n int) driver.Decision {
	p := int64(l.Period)
	idx := floorDiv(now, p)
	if !s.init || idx > s.a {
		s.init, s.a, s.cur = true, idx, 0
	}
	// A clock that went back into an earlier window keeps counting the
	// later window: never more permissive.
	end := (s.a+1)*p - now
	d := driver.Decision{Limit: l.Rate}
	if s.cur+int64(n) > int64(l.Rate) {
		d.Remaining = int(int64(l.Rate) - s.cur)
		d.RetryAfter, d.ResetAfter = dur(end), dur(end)
		return d
	}
	s.cur += int64(n)
	d.Allowed = true
	d.Remaining = int(int64(l.Rate) - s.cur)
	d.ResetAfter = dur(end)
	return d
}

// slidingWindow is the sliding-window counter: admitted iff
// prev·(P-e)/P + cur + n ≤ R, e being now's offset into its window.
func slidingWindow(l driver.Limit, s *State, now int64, n int) driver.Decision {
	p := int64(l.Period)
	r := int64(l.Rate)
	idx := floorDiv(now, p)
	switch {
	case !s.init || idx >= s.a+2:
		s.init, s.a, s.cur, s.prev = true, idx, 0, 0
	case idx == s.a+1:
		s.a, s.prev, s.cur = idx, s.cur, 0
	}
	e := now - s.a*p
	if e < 0 { // clock went back into an earlier window: weigh prev fully
		e = 0
	}
	w := mulDivCeil(s.prev, p-e, p)
	d := driver.Decision{Limit: l.Rate}
	if w+s.cur+int64(n) > r {
		d.Remaining = int(max(0, r-s.cur-w))
		m := r - s.cur - int64(n)
		if m >= 0 {
			// Wait in this window until prev·(P-e2) ≤ m·P.
			e2 := p - mulDivFloor(m, p, s.prev)
			d.RetryAfter = dur(e2 - e)
		} else {
			// Wait for the next window, where prev' = cur.
			e2 := int64(0)
			if s.cur > 0 {
				e2 = p - mulDivFloor(r-int64(n), p, s.cur)
			}
			d.RetryAfter = dur(p - e + e2)
		}
		d.ResetAfter = swReset(s, p, e)
		return d
	}
	s.cur += int64(n)
	d.Allowed = true
	d.Remaining = int(max(0, r-s.cur-w))
	d.ResetAfter = swReset(s, p, e)
	return d
}

// swReset is how long until both counters have slid out.
func swReset(s *State, p, e int64) time.Duration {
	switch {
	case s.cur > 0:
		return dur(2*p - e)
	case s.prev > 0:
		return dur(p - e)
	}
	return 0
}

func dur(ns int64) time.Duration {
	if ns < 0 {
		return 0
	}
	return time.Duration(ns)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// mulDivFloor returns floor(a·b/c) for a, b ≥ 0, c > 0, saturating.
func mulDivFloor(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 1<<63 - 1
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(q)
}

// mulDivCeil returns ceil(a·b/c) for a, b ≥ 0, c > 0, saturating.
func mulDivCeil(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 1<<63 - 1
	}
	q, rem := bits.Div64(hi, lo, uint64(c))
	if rem != 0 {
		q++
	}
	if q > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(q)
}
