package ratelimittest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/driver"
)

// Harness tells Run how to build the backend under test.
type Harness struct {
	// New returns a backend enforcing lim that reads time from clk (a
	// *clock.Fake, or clock.Real() in RealTime, where a distributed
	// backend should use its engine's own clock). Backends created with
	// the same space share their state, as instances of a distributed
	// limiter sharing one engine do; each test uses a fresh space. New
	// must return the backend's constructor error for an invalid lim.
	New func(t *testing.T, lim ratelimit.Limit, clk clock.Clock, space string) (driver.Limiter, error)
	// Algorithms lists the algorithms the backend implements. Default all.
	Algorithms []ratelimit.Algorithm
	// Resolution is the backend's time granularity (1ns for memrate, 1µs
	// for redisrate). The exact tests use times and limits that are whole
	// multiples of it. Default 1ns.
	Resolution time.Duration
	// Steps is the number of decisions in each exact run. Default 3000.
	Steps int
}

// AllAlgorithms lists every algorithm of package ratelimit.
var AllAlgorithms = []ratelimit.Algorithm{
	ratelimit.TokenBucket, ratelimit.LeakyBucket, ratelimit.FixedWindow,
	ratelimit.SlidingLog, ratelimit.SlidingWindow, ratelimit.GCRA,
}

// epoch is the fake clock's start: a whole second, so every resolution and
// window divides it.
var epoch = time.Unix(1_750_000_000, 0)

// Run runs the conformance tests as sub-tests of t.
func Run(t *testing.T, h Harness) {
	if h.Resolution <= 0 {
		h.Resolution = time.Nanosecond
	}
	if h.Steps <= 0 {
		h.Steps = 3000
	}
	if len(h.Algorithms) == 0 {
		h.Algorithms = AllAlgorithms
	}
	s := &suite{h: h}
	t.Run("BadLimit", s.badLimit)
	t.Run("BadCall", s.badCall)
	for _, alg := range h.Algorithms {
		t.Run(alg.String(), func(t *testing.T) {
			for _, lim := range s.limits(alg) {
				t.Run(limName(lim), func(t *testing.T) {
					t.Run("Model", func(t *testing.T) { s.modelRun(t, lim) })
					t.Run("Concurrent", func(t *testing.T) { s.concurrent(t, lim, 1) })
					t.Run("TwoInstancesShareTheLimit", func(t *testing.T) { s.concurrent(t, lim, 2) })
				})
			}
			lim := s.limits(alg)[0]
			t.Run("KeysAreIndependent", func(t *testing.T) { s.keys(t, lim) })
			// A per-minute limit: its RetryAfter (hundreds of ms or more)
			// leaves the deadline room for a loaded engine's round trip.
			slow := s.limits(alg)[len(s.limits(alg))-1]
			t.Run("WaitFailsEarlyPastDeadline", func(t *testing.T) { s.waitEarly(t, slow) })
			t.Run("WaitSleepsOnTheClock", func(t *testing.T) { s.waitSleeps(t, lim) })
			t.Run("WaitCancelled", func(t *testing.T) { s.waitCancelled(t, lim) })
			t.Run("RealTime", func(t *testing.T) { s.realTime(t, alg) })
		})
	}
}

type suite struct {
	h   Harness
	seq atomic.Int64
}

func (s *suite) space(t *testing.T) string {
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return fmt.Sprintf("rlt%d.%s", s.seq.Add(1), name)
}

// limits returns the limits the exact tests use for alg: only those whose
// period (and, for bucket algorithms, emission interval) is a whole number
// of resolution steps.
func (s *suite) limits(alg ratelimit.Algorithm) []ratelimit.Limit {
	var cands []ratelimit.Limit
	if alg.Bucket() {
		cands = []ratelimit.Limit{
			{Rate: 10, Period: time.Second, Burst: 5},
			{Rate: 3, Period: time.Second, Burst: 2}, // T not a whole ns
			{Rate: 8, Period: time.Second, Burst: 1},
			{Rate: 100, Period: time.Minute, Burst: 20},
		}
	} else {
		cands = []ratelimit.Limit{
			{Rate: 10, Period: time.Second},
			{Rate: 7, Period: 300 * time.Millisecond},
			{Rate: 1, Period: time.Second},
			{Rate: 50, Period: time.Minute},
		}
	}
	res := s.h.Resolution
	var out []ratelimit.Limit
	for _, l := range cands {
		l.Algorithm = alg
		if l.Period%res != 0 || (alg.Bucket() && l.Period%(time.Duration(l.Rate)*res) != 0 && res > time.Nanosecond) {
			continue
		}
		out = append(out, l)
	}
	return out
}

func limName(l ratelimit.Limit) string {
	if l.Algorithm.Bucket() {
		return fmt.Sprintf("%d_per_%v_burst_%d", l.Rate, l.Period, l.Burst)
	}
	return fmt.Sprintf("%d_per_%v", l.Rate, l.Period)
}

// newLimiter builds a Limiter over a new backend in space.
func (s *suite) newLimiter(t *testing.T, lim ratelimit.Limit, clk clock.Clock, space string) *ratelimit.Limiter {
	t.Helper()
	d, err := s.h.New(t, lim, clk, space)
	if err != nil {
		t.Fatalf("New(%+v): %v", lim, err)
	}
	if got := d.Limit(); got != lim {
		t.Fatalf("backend Limit() = %+v, want %+v", got, lim)
	}
	l, err := ratelimit.New(d, &ratelimit.Options{Clock: clk})
	if err != nil {
		t.Fatalf("ratelimit.New: %v", err)
	}
	return l
}

func (s *suite) badLimit(t *testing.T) {
	bucket := ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 10, Period: time.Second, Burst: 5}
	window := ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 10, Period: time.Second}
	for _, alg := range s.h.Algorithms {
		if alg.Bucket() {
			bucket.Algorithm = alg
		} else {
			window.Algorithm = alg
		}
	}
	mod := func(l ratelimit.Limit, f func(*ratelimit.Limit)) ratelimit.Limit { f(&l); return l }
	cases := map[string]ratelimit.Limit{
		"zero_rate":         mod(bucket, func(l *ratelimit.Limit) { l.Rate = 0 }),
		"negative_rate":     mod(window, func(l *ratelimit.Limit) { l.Rate = -3 }),
		"zero_period":       mod(bucket, func(l *ratelimit.Limit) { l.Period = 0 }),
		"negative_period":   mod(window, func(l *ratelimit.Limit) { l.Period = -time.Second }),
		"zero_burst":        mod(bucket, func(l *ratelimit.Limit) { l.Burst = 0 }),
		"negative_burst":    mod(bucket, func(l *ratelimit.Limit) { l.Burst = -1 }),
		"burst_on_window":   mod(window, func(l *ratelimit.Limit) { l.Burst = 3 }),
		"unknown_algorithm": mod(window, func(l *ratelimit.Limit) { l.Algorithm = 99 }),
	}
	for name, lim := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := s.h.New(t, lim, clock.NewFake(epoch), s.space(t))
			if !errors.Is(err, ratelimit.ErrInvalidLimit) {
				t.Fatalf("New(%+v) error = %v, want one wrapping ErrInvalidLimit", lim, err)
			}
		})
	}
}

func (s *suite) badCall(t *testing.T) {
	for _, alg := range s.h.Algorithms {
		lim := s.limits(alg)[0]
		l := s.newLimiter(t, lim, clock.NewFake(epoch), s.space(t))
		ctx := context.Background()
		c := lim.Capacity()
		for _, tc := range []struct {
			key  string
			n    int
			want error
		}{
			{"", 1, ratelimit.ErrEmptyKey},
			{"k", 0, ratelimit.ErrInvalidN},
			{"k", -2, ratelimit.ErrInvalidN},
			{"k", c + 1, ratelimit.ErrExceedsCapacity},
		} {
			if _, err := l.Allow(ctx, tc.key, tc.n); !errors.Is(err, tc.want) {
				t.Errorf("%v: Allow(%q, %d) error = %v, want %v", alg, tc.key, tc.n, err, tc.want)
			}
			if err := l.Wait(ctx, tc.key, tc.n); !errors.Is(err, tc.want) {
				t.Errorf("%v: Wait(%q, %d) error = %v, want %v", alg, tc.key, tc.n, err, tc.want)
			}
		}
		// The bad calls consumed nothing: the full capacity is there.
		if d, err := l.Allow(ctx, "k", c); err != nil || !d.Allowed {
			t.Errorf("%v: Allow(k, %d) after bad calls = %+v, %v; want admitted", alg, c, d, err)
		}
	}
}

func (s *suite) keys(t *testing.T, lim ratelimit.Limit) {
	l := s.newLimiter(t, lim, clock.NewFake(epoch), s.space(t))
	ctx := context.Background()
	c := lim.Capacity()
	if d, err := l.Allow(ctx, "a", c); err != nil || !d.Allowed {
		t.Fatalf("Allow(a, %d) = %+v, %v", c, d, err)
	}
	if d, err := l.Allow(ctx, "a", 1); err != nil || d.Allowed {
		t.Fatalf("Allow(a, 1) after exhausting a = %+v, %v; want denied", d, err)
	}
	d, err := l.Allow(ctx, "b", c)
	if err != nil || !d.Allowed || d.Remaining != 0 {
		t.Fatalf("Allow(b, %d) after exhausting a = %+v, %v; keys must be independent", c, d, err)
	}
}

// exhaust uses up key's capacity at the current instant and returns the
// denial of one more unit.
func exhaust(t *testing.T, l *ratelimit.Limiter, key string) ratelimit.Decision {
	t.Helper()
	ctx := context.Background()
	if d, err := l.Allow(ctx, key, l.Limit().Capacity()); err != nil || !d.Allowed {
		t.Fatalf("Allow(%s, capacity) on a fresh key = %+v, %v", key, d, err)
	}
	d, err := l.Allow(ctx, key, 1)
	if err != nil || d.Allowed || d.RetryAfter <= 0 {
		t.Fatalf("Allow(%s, 1) on an exhausted key = %+v, %v; want denied with RetryAfter > 0", key, d, err)
	}
	return d
}

func (s *suite) waitEarly(t *testing.T, lim ratelimit.Limit) {
	clk := clock.NewFake(epoch)
	l := s.newLimiter(t, lim, clk, s.space(t))
	d := exhaust(t, l, "k")
	if lim.Algorithm == ratelimit.LeakyBucket {
		t.Logf("LeakyBucket denies only a full queue; RetryAfter %v", d.RetryAfter)
	}
	// A deadline shorter than RetryAfter: Wait must fail at once, without
	// parking on the clock (nobody advances it).
	ctx, cancel := context.WithTimeout(context.Background(), d.RetryAfter/2)
	defer cancel()
	start := time.Now()
	err := l.Wait(ctx, "k", 1)
	if !errors.Is(err, ratelimit.ErrWouldExceedDeadline) {
		t.Fatalf("Wait with deadline %v < RetryAfter %v = %v, want ErrWouldExceedDeadline", d.RetryAfter/2, d.RetryAfter, err)
	}
	if el := time.Since(start); el >= d.RetryAfter/2 {
		t.Fatalf("Wait took %v to fail; it must fail before its deadline %v", el, d.RetryAfter/2)
	}
	// It consumed nothing: advancing RetryAfter admits the unit.
	clk.Advance(d.RetryAfter)
	if d2, err := l.Allow(context.Background(), "k", 1); err != nil || !d2.Allowed {
		t.Fatalf("Allow after RetryAfter = %+v, %v; the failed Wait must not consume", d2, err)
	}
}

func (s *suite) waitSleeps(t *testing.T, lim ratelimit.Limit) {
	clk := clock.NewFake(epoch)
	l := s.newLimiter(t, lim, clk, s.space(t))
	d := exhaust(t, l, "k")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, "k", 1) }()
	park := func(what string) {
		t.Helper()
		if err := clk.BlockUntil(ctx, 1); err != nil {
			t.Fatalf("Wait never parked on the clock %s: %v", what, err)
		}
		select {
		case err := <-done:
			t.Fatalf("Wait returned %v %s, before the clock moved", err, what)
		default:
		}
	}
	park("for RetryAfter")
	clk.Advance(d.RetryAfter)
	if lim.Algorithm == ratelimit.LeakyBucket {
		// The retry is admitted into the queue behind Burst-1 units still
		// waiting for their slots: Wait then sleeps that Delay on the
		// clock too. Wait for it to park again before advancing (checking
		// Waiters right after Advance would race with the retry).
		if delay := time.Duration(lim.Burst-1) * lim.Interval(); delay > 0 {
			park("for the paced slot")
			clk.Advance(delay)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait after advancing the clock = %v, want nil", err)
		}
	case <-ctx.Done():
		t.Fatalf("Wait still blocked after the clock passed RetryAfter %v (clock waiters: %d)", d.RetryAfter, clk.Waiters())
	}
}

func (s *suite) waitCancelled(t *testing.T, lim ratelimit.Limit) {
	clk := clock.NewFake(epoch)
	l := s.newLimiter(t, lim, clk, s.space(t))
	exhaust(t, l, "k")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, "k", 1) }()
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Wait after cancel = %v, want context.Canceled unwrapped", err)
	}
}

// concurrent checks that callers racing on `instances` limiters that share
// one space admit, at each instant, exactly what the model admits to a
// sequence of single units: never more (per-instance limits would admit
// instances× as much), never less.
func (s *suite) concurrent(t *testing.T, lim ratelimit.Limit, instances int) {
	clk := clock.NewFake(epoch.Add((lim.Period / 3).Truncate(s.h.Resolution)))
	space := s.space(t)
	ls := make([]*ratelimit.Limiter, instances)
	for i := range ls {
		ls[i] = s.newLimiter(t, lim, clk, space)
	}
	m := newModel(lim)
	const workers = 6
	attempts := lim.Capacity() + 4
	ctx := context.Background()
	steps := []time.Duration{0, lim.Interval(), lim.Period / 2, lim.Period, 3 * lim.Interval()}
	for round, step := range steps {
		clk.Advance(step.Truncate(s.h.Resolution))
		now := clk.Now().UnixNano()
		want := 0
		for {
			if ok, _ := m.allow(now, 1); !ok {
				break
			}
			want++
		}
		var admitted atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(l *ratelimit.Limiter) {
				defer wg.Done()
				for i := 0; i < attempts; i++ {
					d, err := l.Allow(ctx, "hot", 1)
					if err != nil {
						errs <- err
						return
					}
					if d.Allowed {
						admitted.Add(1)
					}
				}
			}(ls[w%instances])
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Allow: %v", err)
		}
		if got := int(admitted.Load()); got != want {
			t.Fatalf("round %d (after +%v): %d goroutines on %d instance(s) were admitted %d units at one instant; the definition admits exactly %d",
				round, step, workers, instances, got, want)
		}
	}
}
