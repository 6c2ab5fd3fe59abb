package memrate_test

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
)

var t0 = time.Unix(1_750_000_000, 0)

func newDriver(t *testing.T, lim ratelimit.Limit, o *memrate.Options) *memrate.Driver {
	t.Helper()
	d, err := memrate.NewDriver(lim, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Idle keys (whose limit is fully restored) are dropped as new keys arrive,
// for every algorithm, so a stream of distinct keys keeps memory bounded
// without MaxKeys ever being reached.
func TestIdleKeysEvicted(t *testing.T) {
	for _, alg := range []ratelimit.Algorithm{ratelimit.TokenBucket, ratelimit.LeakyBucket, ratelimit.FixedWindow,
		ratelimit.SlidingLog, ratelimit.SlidingWindow, ratelimit.GCRA} {
		t.Run(alg.String(), func(t *testing.T) {
			lim := ratelimit.Limit{Algorithm: alg, Rate: 10, Period: time.Second}
			if alg.Bucket() {
				lim.Burst = 5
			}
			clk := clock.NewFake(t0)
			d := newDriver(t, lim, &memrate.Options{Clock: clk})
			ctx := context.Background()
			const perSecond = 1000
			maxLen := 0
			for sec := 0; sec < 20; sec++ {
				for i := 0; i < perSecond; i++ {
					key := fmt.Sprintf("k%d-%d", sec, i)
					if _, err := d.Allow(ctx, key, 1); err != nil {
						t.Fatal(err)
					}
					clk.Advance(time.Second / perSecond)
				}
				maxLen = max(maxLen, d.Len())
			}
			// A key is idle at most 2 periods after its last use (sliding
			// window: two windows), so about 2,000–3,000 keys are live
			// at any time; without eviction there would be 20,000.
			if maxLen > 3*perSecond+200 {
				t.Fatalf("Len peaked at %d over 20,000 distinct keys; idle keys are not evicted", maxLen)
			}
			t.Logf("%v: Len peaked at %d", alg, maxLen)
		})
	}
}

// Eviction never forgets a key that is still limited: an exhausted key
// stays denied however many new keys arrive.
func TestEvictionKeepsLimitedKeys(t *testing.T) {
	lim := ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 1, Period: time.Hour, Burst: 1}
	clk := clock.NewFake(t0)
	d := newDriver(t, lim, &memrate.Options{Clock: clk})
	ctx := context.Background()
	if dec, _ := d.Allow(ctx, "hot", 1); !dec.Allowed {
		t.Fatal("first unit denied")
	}
	for i := 0; i < 5000; i++ {
		clk.Advance(time.Millisecond)
		_, _ = d.Allow(ctx, fmt.Sprint("other", i), 1)
	}
	if dec, _ := d.Allow(ctx, "hot", 1); dec.Allowed {
		t.Fatal("exhausted key admitted again after other keys arrived: it was evicted while limited")
	}
}

// MaxKeys caps the number of keys even when none is idle.
func TestMaxKeys(t *testing.T) {
	lim := ratelimit.Limit{Algorithm: ratelimit.SlidingLog, Rate: 5, Period: time.Hour}
	d := newDriver(t, lim, &memrate.Options{Clock: clock.NewFake(t0), MaxKeys: 640})
	for i := 0; i < 10_000; i++ {
		_ = d.AllowAt(t0, fmt.Sprint("k", i), 1)
	}
	if n := d.Len(); n > 640 {
		t.Fatalf("Len = %d with MaxKeys 640", n)
	}
}

// MaxKeys is a real cap even when it is smaller than the shard count or
// not a multiple of it: MaxKeys 10 holds at most 10 keys (it used to be
// rounded up to one key per shard, 64).
func TestMaxKeysExactCap(t *testing.T) {
	lim := ratelimit.Limit{Algorithm: ratelimit.SlidingLog, Rate: 5, Period: time.Hour}
	for _, max := range []int{1, 10, 65, 100, 1000} {
		d := newDriver(t, lim, &memrate.Options{Clock: clock.NewFake(t0), MaxKeys: max})
		for i := 0; i < 20*max+100; i++ {
			_ = d.AllowAt(t0, fmt.Sprint("k", i), 1)
			if n := d.Len(); n > max {
				t.Fatalf("MaxKeys %d: Len = %d after %d keys", max, n, i+1)
			}
		}
		if n := d.Len(); n < max*9/10 {
			t.Errorf("MaxKeys %d: only %d keys kept; the cap should be usable", max, n)
		}
	}
}

func TestNewRejectsBadLimit(t *testing.T) {
	if _, err := memrate.New(ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 1, Period: time.Second}, nil); err == nil {
		t.Fatal("burst 0 accepted")
	}
}

// TestXTimeRateIsNotExact documents why TokenBucket does not use
// golang.org/x/time/rate: over the same fake-clock request sequence its
// float64 refill decides differently from the exact token bucket (which
// ratelimittest checks against a rational-arithmetic model).
func TestXTimeRateIsNotExact(t *testing.T) {
	lim := ratelimit.Limit{Algorithm: ratelimit.TokenBucket, Rate: 3, Period: time.Second, Burst: 2}
	d := newDriver(t, lim, nil)
	x := rate.NewLimiter(rate.Limit(3), 2)
	rng := rand.New(rand.NewSource(1))
	now := t0
	x.AllowN(now, 0) // start full at t0
	differ := 0
	const steps = 200_000
	for i := 0; i < steps; i++ {
		// Gaps around whole refill intervals, where rounding decides.
		gap := time.Duration(rng.Intn(3)) * (time.Second / 3)
		gap += time.Duration(rng.Intn(5) - 2)
		now = now.Add(max(0, gap))
		n := 1 + rng.Intn(2)
		if d.AllowAt(now, "k", n).Allowed != x.AllowN(now, n) {
			differ++
		}
	}
	t.Logf("x/time/rate differs from the exact token bucket in %d of %d decisions", differ, steps)
	if differ == 0 {
		t.Fatal("x/time/rate agreed on every decision; the package doc's reason to avoid it is stale")
	}
}

// A clock stepped backwards never makes a limiter more permissive: an
// exhausted key stays denied, for every algorithm, and nothing panics.
func TestClockBackwards(t *testing.T) {
	for _, alg := range []ratelimit.Algorithm{ratelimit.TokenBucket, ratelimit.LeakyBucket, ratelimit.FixedWindow,
		ratelimit.SlidingLog, ratelimit.SlidingWindow, ratelimit.GCRA} {
		lim := ratelimit.Limit{Algorithm: alg, Rate: 4, Period: time.Second}
		if alg.Bucket() {
			lim.Burst = 4
		}
		clk := clock.NewFake(t0.Add(1500 * time.Millisecond))
		l, err := memrate.New(lim, &memrate.Options{Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if d, _ := l.Allow(ctx, "k", 4); !d.Allowed {
			t.Fatalf("%v: capacity denied on a fresh key", alg)
		}
		for _, back := range []time.Duration{time.Millisecond, 700 * time.Millisecond, 10 * time.Second} {
			clk.Set(t0.Add(1500*time.Millisecond - back))
			d, err := l.Allow(ctx, "k", 1)
			if err != nil || d.Allowed || d.Remaining < 0 || d.RetryAfter <= 0 {
				t.Errorf("%v: clock %v back: %+v, %v; want denied with RetryAfter > 0", alg, back, d, err)
			}
		}
	}
}

// Below MaxKeys a key inside its window is never dropped, whatever the
// shard it hashes to: 1,000 keys each holding 2 of 3 units of an hourly
// window under MaxKeys 1,000 (about 16 per shard on average, so some
// shards hold many more than MaxKeys/64) all keep their count while a
// steady stream of already-known keys is decided.
func TestKeyInWindowKeptWhileCapacityAllows(t *testing.T) {
	lim := ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 3, Period: time.Hour}
	const keys = 1000
	clk := clock.NewFake(t0)
	d := newDriver(t, lim, &memrate.Options{Clock: clk, MaxKeys: keys})
	ctx := context.Background()
	for i := 0; i < keys; i++ {
		for j := 0; j < 2; j++ {
			if dec, _ := d.Allow(ctx, fmt.Sprint("k", i), 1); !dec.Allowed {
				t.Fatalf("k%d unit %d denied", i, j)
			}
		}
		clk.Advance(time.Millisecond)
	}
	if n := d.Len(); n != keys {
		t.Fatalf("Len = %d after %d keys under MaxKeys %d", n, keys, keys)
	}
	for i := 0; i < keys; i++ {
		dec, _ := d.Allow(ctx, fmt.Sprint("k", i), 1)
		if !dec.Allowed || dec.Remaining != 0 {
			t.Fatalf("k%d: %+v; want its third and last unit (Remaining 0): it was dropped while in its window", i, dec)
		}
	}
	// Full now: one more key drops exactly one other.
	_, _ = d.Allow(ctx, "extra", 1)
	if n := d.Len(); n != keys {
		t.Fatalf("Len = %d over MaxKeys %d", n, keys)
	}
}

// A working set of keys in steady use with a generous limit (every state
// back to fresh at once) is decided without allocating and without keys
// being dropped and re-created: idle keys are dropped only after a Period
// unused.
func TestSteadyWorkingSetDoesNotAllocate(t *testing.T) {
	lim := ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 1_000_000_000, Period: time.Second, Burst: 1_000_000}
	d := newDriver(t, lim, nil)
	ctx := context.Background()
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = fmt.Sprint("client-", i)
		_, _ = d.Allow(ctx, keys[i], 1)
	}
	i := 0
	allocs := testing.AllocsPerRun(10_000, func() {
		if dec, _ := d.Allow(ctx, keys[i%len(keys)], 1); !dec.Allowed {
			t.Fatal("denied")
		}
		i++
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocs per decision over a steady working set; want 0", allocs)
	}
	if n := d.Len(); n != len(keys) {
		t.Fatalf("Len = %d, want %d", n, len(keys))
	}
}

// Concurrent new keys under a small MaxKeys never exceed it.
func TestMaxKeysConcurrent(t *testing.T) {
	lim := ratelimit.Limit{Algorithm: ratelimit.SlidingLog, Rate: 5, Period: time.Hour}
	const max = 50
	d := newDriver(t, lim, &memrate.Options{Clock: clock.NewFake(t0), MaxKeys: max})
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func(g int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 3000; i++ {
				_ = d.AllowAt(t0, fmt.Sprint(g, "-", i), 1)
				if n := d.Len(); n > max {
					t.Errorf("Len = %d over MaxKeys %d", n, max)
					return
				}
			}
		}(g)
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}
