package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
)

// BenchmarkCmpCacheMix90: parallel 90% Get / 10% Set over Zipf(0.99) keys on
// a full cache of 2^15 entries.
func BenchmarkCmpCacheMix90(b *testing.B) {
	for _, name := range benchCaches {
		b.Run(name, func(b *testing.B) {
			c, trace := prefilled(b, name)
			var seed atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(104729)) & (benchTrace - 1)
				for pb.Next() {
					if i%10 == 0 {
						c.set(trace[i])
					} else {
						c.get(trace[i])
					}
					i = (i + 1) & (benchTrace - 1)
				}
			})
		})
	}
}

// BenchmarkCmpCacheFront: a hit through the typed cache.Cache front against
// a hit on the raw memorycache store it wraps (the front's own cost).
func BenchmarkCmpCacheFront(b *testing.B) {
	const n = 1 << 12
	ctx := context.Background()
	b.Run("scalekit-front", func(b *testing.B) {
		st, err := memorycache.New(&memorycache.Options[uint64, cache.Entry[uint64]]{MaxEntries: 2 * n})
		if err != nil {
			b.Fatal(err)
		}
		c, err := cache.NewLocal[uint64, uint64](st, nil)
		if err != nil {
			b.Fatal(err)
		}
		for k := range uint64(n) {
			if err := c.Set(ctx, k, k); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		var k uint64
		for b.Loop() {
			if _, ok, _ := c.Get(ctx, k&(n-1)); !ok {
				b.Fatal("miss")
			}
			k++
		}
	})
	b.Run("memorycache-store", func(b *testing.B) {
		st, err := memorycache.New(&memorycache.Options[uint64, uint64]{MaxEntries: 2 * n})
		if err != nil {
			b.Fatal(err)
		}
		for k := range uint64(n) {
			_ = st.Set(k, k, 0)
		}
		b.ReportAllocs()
		var k uint64
		for b.Loop() {
			if _, ok := st.Get(k & (n - 1)); !ok {
				b.Fatal("miss")
			}
			k++
		}
	})
}

// loopTrace repeats keys 0..n-1 in order, m accesses in all: the access
// pattern that defeats LRU when n exceeds the capacity.
func loopTrace(n, m int) []uint64 {
	t := make([]uint64, m)
	for i := range t {
		t[i] = uint64(i % n)
	}
	return t
}

// scanTrace is Zipf(0.99) traffic with a one-off sequential scan of unseen
// keys mixed in (one access in four): scan pollution.
func scanTrace(keys, m int) []uint64 {
	z := NewZipf(keys, 0.99, 11)
	r := rand.New(rand.NewPCG(1, 2))
	t := make([]uint64, m)
	scan := uint64(1 << 40)
	for i := range t {
		if r.IntN(4) == 0 {
			t[i] = scan
			scan++
		} else {
			t[i] = z.Next()
		}
	}
	return t
}

// BenchmarkCmpHitRatio replays traces at several capacities and reports the
// hit ratio (hit%); ns/op is the cost of one whole replay.
func BenchmarkCmpHitRatio(b *testing.B) {
	const space = 1 << 20
	m := 1_000_000
	type tr struct {
		name  string
		trace func(capacity int) []uint64
	}
	traces := []tr{
		{"zipf0.7", func(int) []uint64 { return NewZipf(space, 0.7, 3).Trace(m) }},
		{"zipf0.99", func(int) []uint64 { return NewZipf(space, 0.99, 3).Trace(m) }},
		{"zipf1.2", func(int) []uint64 { return NewZipf(space, 1.2, 3).Trace(m) }},
		{"scan", func(int) []uint64 { return scanTrace(space, m) }},
		{"loop", func(c int) []uint64 { return loopTrace(c+c/2, m) }},
	}
	for _, t := range traces {
		for _, permille := range []int{1, 10, 50, 100} {
			capacity := space * permille / 1000
			trace := t.trace(capacity)
			b.Run(fmt.Sprintf("%s/cap=%g%%", t.name, float64(permille)/10), func(b *testing.B) {
				for _, name := range []string{"scalekit-s3fifo", "otter", "golang-lru"} {
					b.Run(name, func(b *testing.B) {
						var r float64
						for b.Loop() {
							r = hitRatio(newSim(b, name, capacity), trace)
						}
						b.ReportMetric(100*r, "hit%")
					})
				}
			})
		}
	}
}
