package ratelimittest

import (
	"fmt"
	"math/big"
	"time"

	"github.com/scalekit-go/scalekit/ratelimit"
)

// model is a reference implementation of one algorithm, written as
// literally as possible from its definition and independently of any
// backend (different state, different arithmetic). allow returns whether n
// units are admitted at now (Unix nanoseconds) and, for LeakyBucket, the
// start of the admitted request's paced slot.
type model interface {
	allow(now int64, n int) (ok bool, slot int64)
}

func newModel(l ratelimit.Limit) model {
	switch l.Algorithm {
	case ratelimit.TokenBucket:
		return &bucketModel{l: l}
	case ratelimit.GCRA:
		return &gcraModel{l: l}
	case ratelimit.LeakyBucket:
		return &queueModel{l: l}
	case ratelimit.FixedWindow:
		return &fixedModel{l: l, counts: map[int64]int64{}}
	case ratelimit.SlidingLog:
		return &logModel{l: l}
	case ratelimit.SlidingWindow:
		return &counterModel{l: l, counts: map[int64]int64{}}
	}
	panic(fmt.Sprintf("ratelimittest: no model for %v", l.Algorithm))
}

// bucketModel is the token bucket in exact rationals: it starts full with
// Burst tokens, gains Rate/Period tokens per nanosecond up to Burst, and
// admits n iff at least n tokens are present.
type bucketModel struct {
	l      ratelimit.Limit
	tokens *big.Rat
	last   int64
}

func (m *bucketModel) allow(now int64, n int) (bool, int64) {
	burst := big.NewRat(int64(m.l.Burst), 1)
	if m.tokens == nil {
		m.tokens, m.last = new(big.Rat).Set(burst), now
	}
	if now > m.last {
		gain := big.NewRat((now-m.last)*int64(m.l.Rate), int64(m.l.Period))
		m.tokens.Add(m.tokens, gain)
		if m.tokens.Cmp(burst) > 0 {
			m.tokens.Set(burst)
		}
		m.last = now
	}
	need := big.NewRat(int64(n), 1)
	if m.tokens.Cmp(need) < 0 {
		return false, 0
	}
	m.tokens.Sub(m.tokens, need)
	return true, 0
}

// gcraModel is GCRA in its continuous-state ("leaky bucket as a meter")
// form: a counter that drains one per nanosecond, each unit adds the
// emission interval T, and a request of n units conforms iff the counter
// plus n·T stays within the limit Burst·T.
type gcraModel struct {
	l       ratelimit.Limit
	content int64
	last    int64
	seen    bool
}

func (m *gcraModel) allow(now int64, n int) (bool, int64) {
	t := int64(m.l.Interval())
	if m.seen && now > m.last {
		m.content = max(0, m.content-(now-m.last))
	}
	if !m.seen || now > m.last {
		m.last, m.seen = now, true
	}
	if m.content+int64(n)*t > int64(m.l.Burst)*t {
		return false, 0
	}
	m.content += int64(n) * t
	return true, 0
}

// queueModel is the leaky bucket as a queue: every admitted unit owns a
// service slot [s, s+T), slots are served back to back; a unit is in the
// queue until its slot ends, and a request is admitted iff the units in the
// queue plus n are at most Burst. The request's slot starts when the last
// queued unit's slot ends (or now, if the queue is empty).
type queueModel struct {
	l     ratelimit.Limit
	slots []int64
}

func (m *queueModel) allow(now int64, n int) (bool, int64) {
	t := int64(m.l.Interval())
	queued := 0
	for i := len(m.slots) - 1; i >= 0 && m.slots[i]+t > now; i-- {
		queued++
	}
	if queued+n > m.l.Burst {
		return false, 0
	}
	start := now
	if k := len(m.slots); k > 0 && m.slots[k-1]+t > now {
		start = m.slots[k-1] + t
	}
	for i := 0; i < n; i++ {
		m.slots = append(m.slots, start+int64(i)*t)
	}
	if len(m.slots) > 4*m.l.Burst {
		m.slots = append([]int64(nil), m.slots[len(m.slots)-m.l.Burst:]...)
	}
	return true, start
}

// fixedModel counts admitted units per aligned window now/Period.
type fixedModel struct {
	l      ratelimit.Limit
	counts map[int64]int64
}

func (m *fixedModel) allow(now int64, n int) (bool, int64) {
	w := now / int64(m.l.Period)
	if m.counts[w]+int64(n) > int64(m.l.Rate) {
		return false, 0
	}
	m.counts[w] += int64(n)
	return true, 0
}

// logModel keeps one timestamp per admitted unit and counts those in
// (now-Period, now].
type logModel struct {
	l  ratelimit.Limit
	ts []int64
}

func (m *logModel) allow(now int64, n int) (bool, int64) {
	c := 0
	for _, t := range m.ts {
		if t > now-int64(m.l.Period) && t <= now {
			c++
		}
	}
	if c+n > m.l.Rate {
		return false, 0
	}
	for i := 0; i < n; i++ {
		m.ts = append(m.ts, now)
	}
	if len(m.ts) > 8*m.l.Rate {
		m.ts = append([]int64(nil), m.ts[len(m.ts)-m.l.Rate:]...)
	}
	return true, 0
}

// counterModel is the sliding-window counter in exact rationals:
// prev·(P-e)/P + cur + n ≤ R.
type counterModel struct {
	l      ratelimit.Limit
	counts map[int64]int64
}

func (m *counterModel) allow(now int64, n int) (bool, int64) {
	p := int64(m.l.Period)
	w := now / p
	e := now - w*p
	est := big.NewRat(m.counts[w-1]*(p-e), p)
	est.Add(est, big.NewRat(m.counts[w]+int64(n), 1))
	if est.Cmp(big.NewRat(int64(m.l.Rate), 1)) > 0 {
		return false, 0
	}
	m.counts[w] += int64(n)
	return true, 0
}

// admission is one admitted request: its time (its slot start for
// LeakyBucket) and units.
type admission struct {
	t int64
	n int
}

// checkPromise verifies, over the admitted requests in time order, the
// bound the algorithm documents, independently of the model. It returns a
// description of the first violation, or "". Intervals longer than
// 4·Period are not examined (the bounds only loosen with length).
func checkPromise(l ratelimit.Limit, adm []admission) string {
	p := int64(l.Period)
	horizon := 4 * p
	switch l.Algorithm {
	case ratelimit.TokenBucket, ratelimit.GCRA:
		// Units admitted in [t_i, t_j] ≤ B + (t_j - t_i)·R/P (GCRA: /T).
		t := int64(l.Interval())
		for i := range adm {
			sum := int64(0)
			for j := i; j < len(adm) && adm[j].t-adm[i].t <= horizon; j++ {
				sum += int64(adm[j].n)
				d := adm[j].t - adm[i].t
				over := sum*p > int64(l.Burst)*p+d*int64(l.Rate)
				if l.Algorithm == ratelimit.GCRA {
					over = sum*t > int64(l.Burst)*t+d
				}
				if over {
					return fmt.Sprintf("%d units admitted in [%v, %v], more than Burst + elapsed·Rate/Period", sum, time.Duration(adm[i].t), time.Duration(adm[j].t))
				}
			}
		}
	case ratelimit.LeakyBucket:
		t := int64(l.Interval())
		for i := 1; i < len(adm); i++ {
			if gap := adm[i].t - adm[i-1].t; gap < int64(adm[i-1].n)*t {
				return fmt.Sprintf("paced slots %v and %v are %v apart, need ≥ %d·%v", time.Duration(adm[i-1].t), time.Duration(adm[i].t), time.Duration(gap), adm[i-1].n, l.Interval())
			}
		}
	case ratelimit.FixedWindow, ratelimit.SlidingWindow, ratelimit.SlidingLog:
		win := map[int64]int64{}
		for j := range adm {
			w := adm[j].t / p
			win[w] += int64(adm[j].n)
			if win[w] > int64(l.Rate) {
				return fmt.Sprintf("%d units admitted in aligned window %d, more than Rate %d", win[w], w, l.Rate)
			}
			if l.Algorithm == ratelimit.FixedWindow {
				continue
			}
			sum := int64(0) // units in (t_j - P, t_j]
			for i := j; i >= 0 && adm[i].t > adm[j].t-p; i-- {
				sum += int64(adm[i].n)
			}
			if l.Algorithm == ratelimit.SlidingLog && sum > int64(l.Rate) {
				return fmt.Sprintf("%d units admitted in (%v, %v], more than Rate %d", sum, time.Duration(adm[j].t-p), time.Duration(adm[j].t), l.Rate)
			}
			if l.Algorithm == ratelimit.SlidingWindow {
				e, prev := adm[j].t%p, win[w-1]
				if sum*p > int64(l.Rate)*p+prev*e {
					return fmt.Sprintf("%d units admitted in (%v, %v], more than R + prev·e/P = %d + %d·%v/P", sum, time.Duration(adm[j].t-p), time.Duration(adm[j].t), l.Rate, prev, time.Duration(e))
				}
			}
		}
	}
	return ""
}
