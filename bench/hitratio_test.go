package bench

import (
	"fmt"
	"testing"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"

	"github.com/scalekit-go/scalekit/cache/memorycache"
)

const (
	hitKeySpace = 100_000
	hitTraceLen = 1_000_000
)

type simCache interface {
	get(k uint64) bool
	set(k uint64)
}

type skCache struct {
	s *memorycache.Store[uint64, uint64]
}

func (c skCache) get(k uint64) bool { _, ok := c.s.Get(k); return ok }
func (c skCache) set(k uint64)      { _ = c.s.Set(k, k, 0) }

type otterCache struct{ c *otter.Cache[uint64, uint64] }

func (c otterCache) get(k uint64) bool { _, ok := c.c.GetIfPresent(k); return ok }
func (c otterCache) set(k uint64)      { c.c.Set(k, k) }

type lruCache struct{ c *lru.Cache[uint64, uint64] }

func (c lruCache) get(k uint64) bool { _, ok := c.c.Get(k); return ok }
func (c lruCache) set(k uint64)      { c.c.Add(k, k) }

func newSim(t testing.TB, name string, capacity int) simCache {
	switch name {
	case "otter":
		return otterCache{otter.Must(&otter.Options[uint64, uint64]{MaximumSize: capacity})}
	case "golang-lru":
		c, err := lru.New[uint64, uint64](capacity)
		if err != nil {
			t.Fatal(err)
		}
		return lruCache{c}
	}
	var p memorycache.Policy
	switch name {
	case "scalekit-s3fifo":
		p = memorycache.S3FIFO
	case "scalekit-lru":
		p = memorycache.LRU
	case "scalekit-lfu":
		p = memorycache.LFU
	case "scalekit-fifo":
		p = memorycache.FIFO
	case "scalekit-random":
		p = memorycache.Random
	case "scalekit-lifo":
		p = memorycache.LIFO
	case "scalekit-mru":
		p = memorycache.MRU
	}
	s, err := memorycache.New(&memorycache.Options[uint64, uint64]{MaxEntries: capacity, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	return skCache{s}
}

func hitRatio(c simCache, trace []uint64) float64 {
	hits := 0
	for _, k := range trace {
		if c.get(k) {
			hits++
		} else {
			c.set(k)
		}
	}
	return float64(hits) / float64(len(trace))
}

var hitCaches = []string{"scalekit-s3fifo", "otter", "golang-lru", "scalekit-lru", "scalekit-lfu", "scalekit-fifo", "scalekit-random", "scalekit-lifo", "scalekit-mru"}

var hitCachesRace = []string{"scalekit-s3fifo", "otter", "golang-lru"}

// TestHitRatio replays a Zipf(0.99) trace over 100,000 keys at capacities
// of 1% and 10% of the key space, prints the table, and checks the issue's
// targets: the default policy within 2 points of otter and ahead of LRU.
func TestHitRatio(t *testing.T) {
	n := hitTraceLen
	if raceEnabled {
		n /= 5
	}
	trace := NewZipf(hitKeySpace, 0.99, 42).Trace(n)
	fmt.Printf("%-18s %10s %10s\n", "cache", "cap=1%", "cap=10%")
	ratios := map[string][2]float64{}
	names := hitCaches
	if raceEnabled {
		names = hitCachesRace
	}
	for _, name := range names {
		var r [2]float64
		for i, frac := range []int{100, 10} {
			r[i] = hitRatio(newSim(t, name, hitKeySpace/frac), trace)
		}
		ratios[name] = r
		fmt.Printf("%-18s %9.2f%% %9.2f%%\n", name, 100*r[0], 100*r[1])
	}
	for i, label := range []string{"1%", "10%"} {
		def, ot, l := ratios["scalekit-s3fifo"][i], ratios["otter"][i], ratios["golang-lru"][i]
		if def < ot-0.02 {
			t.Errorf("capacity %s: default policy hit ratio %.2f%% more than 2 points below otter's %.2f%%", label, 100*def, 100*ot)
		}
		if def <= l {
			t.Errorf("capacity %s: default policy hit ratio %.2f%% not ahead of LRU's %.2f%%", label, 100*def, 100*l)
		}
	}
}

// TestHitRatioTraces replays the loop (keys 0..1.5×capacity−1 repeated),
// scan-polluted Zipf and plain Zipf traces of BenchmarkCmpHitRatio, smaller,
// at capacities of 1% and 10% of the key space, and checks the default
// policy against otter: on the loop within 2 points of it, on the Zipf
// traces not behind it.
func TestHitRatioTraces(t *testing.T) {
	const space = 1 << 18
	m, noise := 400_000, 0.0
	if raceEnabled {
		// Slower by ~10× under the race detector: half the trace, and
		// otter's randomised admission then moves its ratio by up to about
		// a point between runs (seen 38.8 vs 39.6% on scan at 1% with an
		// eighth of the trace), so the margins widen by that much.
		m, noise = m/2, 0.01
	}
	traces := []struct {
		name  string
		slack float64 // how far below otter the default may be
		trace func(capacity int) []uint64
	}{
		{"loop", 0.02, func(c int) []uint64 { return loopTrace(c+c/2, m) }},
		{"scan", 0.005, func(int) []uint64 { return scanTrace(space, m) }},
		{"zipf0.99", 0.005, func(int) []uint64 { return NewZipf(space, 0.99, 3).Trace(m) }},
	}
	for _, tr := range traces {
		for _, pct := range []int{1, 10} {
			capacity := space * pct / 100
			trace := tr.trace(capacity)
			sk := hitRatio(newSim(t, "scalekit-s3fifo", capacity), trace)
			ot := hitRatio(newSim(t, "otter", capacity), trace)
			fmt.Printf("%-9s cap=%2d%%  scalekit %6.2f%%  otter %6.2f%%\n", tr.name, pct, 100*sk, 100*ot)
			if sk < ot-tr.slack-noise {
				t.Errorf("%s at %d%%: default policy %.2f%%, otter %.2f%% (allowed %.1f points below)", tr.name, pct, 100*sk, 100*ot, 100*(tr.slack+noise))
			}
		}
	}
}
