package ratelimittest

import (
	"context"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/ratelimit"
)

// modelRun drives one key through a long randomised fake-clock run and
// compares every decision with the reference model.
func (s *suite) modelRun(t *testing.T, lim ratelimit.Limit) {
	res := s.h.Resolution
	clk := clock.NewFake(epoch)
	l := s.newLimiter(t, lim, clk, s.space(t))
	m := newModel(lim)
	rng := rand.New(rand.NewSource(int64(lim.Rate)*31 + int64(lim.Burst)*7 + int64(lim.Algorithm)))
	ctx := context.Background()
	c := lim.Capacity()
	iv := lim.Interval()
	var adm []admission
	step := 0
	failures := 0

	// decide makes one decision at the fake clock's time and checks it
	// against the model and the invariants of every Decision.
	decide := func(n int, why string) ratelimit.Decision {
		t.Helper()
		step++
		now := clk.Now().UnixNano()
		d, err := l.Allow(ctx, "k", n)
		if err != nil {
			t.Fatalf("step %d: Allow(%d): %v", step, n, err)
		}
		ok, slot := m.allow(now, n)
		bad := func(format string, args ...any) {
			t.Helper()
			failures++
			t.Errorf("step %d (%s) at +%v, n=%d: "+format, append([]any{step, why, time.Duration(now - epoch.UnixNano()), n}, args...)...)
			if failures > 5 {
				t.FailNow()
			}
		}
		if d.Allowed != ok {
			bad("Allowed = %v, the definition says %v (decision %+v)", d.Allowed, ok, d)
			m = nil // the model has diverged; stop comparing
			t.FailNow()
		}
		if d.Limit != c {
			bad("Limit = %d, want capacity %d", d.Limit, c)
		}
		if d.Remaining < 0 || d.Remaining > c {
			bad("Remaining = %d outside [0, %d]", d.Remaining, c)
		}
		if d.Allowed && d.RetryAfter != 0 {
			bad("admitted with RetryAfter %v", d.RetryAfter)
		}
		if !d.Allowed && d.RetryAfter <= 0 {
			bad("denied with RetryAfter %v", d.RetryAfter)
		}
		if d.ResetAfter < 0 {
			bad("ResetAfter %v < 0", d.ResetAfter)
		}
		if lim.Algorithm == ratelimit.LeakyBucket {
			if d.Allowed && d.Delay != time.Duration(slot-now) {
				bad("Delay = %v, the paced slot starts in %v", d.Delay, time.Duration(slot-now))
			}
		} else if d.Delay != 0 {
			bad("Delay = %v on %v", d.Delay, lim.Algorithm)
		}
		if d.Allowed {
			at := now
			if lim.Algorithm == ratelimit.LeakyBucket {
				at = slot
			}
			adm = append(adm, admission{t: at, n: n})
		}
		return d
	}

	for step < s.h.Steps {
		n := 1
		if rng.Intn(10) < 3 {
			n = 1 + rng.Intn(c)
		}
		d := decide(n, "random")
		switch {
		case rng.Intn(12) == 0:
			// Remaining: exactly that many single units now, then a denial.
			for i := 0; i < d.Remaining; i++ {
				if d2 := decide(1, "drain Remaining"); !d2.Allowed {
					t.Fatalf("step %d: unit %d of Remaining=%d denied", step, i+1, d.Remaining)
				}
			}
			if d2 := decide(1, "past Remaining"); d2.Allowed {
				t.Fatalf("step %d: unit beyond Remaining=%d admitted", step, d.Remaining)
			}
		case !d.Allowed && rng.Intn(3) == 0:
			// RetryAfter: still denied one resolution step earlier, admitted at it.
			if d.RetryAfter > res {
				clk.Advance(d.RetryAfter - res)
				if d2 := decide(n, "RetryAfter - resolution"); d2.Allowed {
					t.Fatalf("step %d: admitted %v before RetryAfter %v", step, res, d.RetryAfter)
				}
				clk.Advance(res)
			} else {
				clk.Advance(d.RetryAfter)
			}
			if d2 := decide(n, "at RetryAfter"); !d2.Allowed {
				t.Fatalf("step %d: denied at RetryAfter %v", step, d.RetryAfter)
			}
		case rng.Intn(25) == 0:
			// ResetAfter: the full capacity is back exactly then.
			if d.ResetAfter >= res {
				clk.Advance(d.ResetAfter - res)
				if d2 := decide(c, "ResetAfter - resolution"); d2.Allowed {
					t.Fatalf("step %d: full capacity admitted %v before ResetAfter %v", step, res, d.ResetAfter)
				}
				clk.Advance(res)
			}
			if d2 := decide(c, "at ResetAfter"); !d2.Allowed {
				t.Fatalf("step %d: full capacity denied at ResetAfter %v", step, d.ResetAfter)
			}
		}
		// Next instant: the same one, a random gap, a fraction or multiple
		// of the emission interval, or just around a window boundary.
		var gap time.Duration
		switch rng.Intn(6) {
		case 0:
		case 1:
			gap = time.Duration(rng.Int63n(int64(2 * iv)))
		case 2:
			gap = iv * time.Duration(1+rng.Intn(3)) / time.Duration(1+rng.Intn(3))
		case 3:
			gap = iv
		case 4:
			now := clk.Now().UnixNano()
			next := (now/int64(lim.Period) + 1) * int64(lim.Period)
			gap = time.Duration(next-now) + res*time.Duration(rng.Intn(3)-1)
		case 5:
			gap = time.Duration(rng.Int63n(int64(lim.Period) / 8))
		}
		clk.Advance(max(0, gap.Truncate(res)))
	}
	if msg := checkPromise(lim, adm); msg != "" {
		t.Fatalf("promise of %v broken: %s", lim.Algorithm, msg)
	}
	if len(adm) < s.h.Steps/10 {
		t.Fatalf("only %d of %d decisions admitted; the run does not exercise the limiter", len(adm), step)
	}
}

// realTime runs 3 goroutines on each of two instances sharing one space,
// on the real clock (for a distributed backend, the engine's), for a short
// time, and checks the admitted total against the algorithm's bounds with
// tolerance: at most the promise's upper bound plus one unit, and at least
// the capacity plus one (the limiter refills).
func (s *suite) realTime(t *testing.T, alg ratelimit.Algorithm) {
	lim := ratelimit.Limit{Algorithm: alg, Rate: 20, Period: 100 * time.Millisecond}
	if alg.Bucket() {
		lim.Burst = 5
	}
	space := s.space(t)
	ls := []*ratelimit.Limiter{
		s.newLimiter(t, lim, clock.Real(), space),
		s.newLimiter(t, lim, clock.Real(), space),
	}
	const run = 350 * time.Millisecond
	var admitted, calls atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	start := time.Now()
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(l *ratelimit.Limiter) {
			defer wg.Done()
			for time.Since(start) < run {
				d, err := l.Allow(context.Background(), "rt", 1)
				if err != nil {
					errs <- err
					return
				}
				calls.Add(1)
				if d.Allowed {
					admitted.Add(1)
				}
				if !d.Allowed && d.RetryAfter > time.Millisecond {
					time.Sleep(time.Millisecond) // pace the load; not waiting for a condition
				}
			}
		}(ls[w%2])
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatalf("Allow: %v", err)
	}
	got := admitted.Load()
	periods := float64(el) / float64(lim.Period)
	var upper int64
	if alg.Bucket() {
		upper = int64(lim.Burst) + int64(periods*float64(lim.Rate)) + 1
	} else {
		// Every aligned window touched admits at most Rate.
		upper = int64(lim.Rate) * (int64(el/lim.Period) + 2)
	}
	// Liveness only: the first capacity and at least one unit after it
	// (a refill, or a later window). On a loaded machine calls can be
	// bunched by scheduling stalls, so a rate-based lower bound would be
	// flaky; exactness is what the fake-clock sub-tests check.
	lower := int64(lim.Capacity()) + 1
	t.Logf("%v: %d of %d calls admitted in %v (bounds [%d, %d])", alg, got, calls.Load(), el, lower, upper)
	if got > upper {
		t.Fatalf("%d units admitted in %v by two instances; the limit allows at most %d", got, el, upper)
	}
	if got < lower {
		t.Fatalf("only %d units admitted in %v; a %d per %v limit must admit its capacity and then more (≥ %d)", got, el, lim.Rate, lim.Period, lower)
	}
}
