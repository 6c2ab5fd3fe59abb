package bench

import (
	"sync/atomic"
	"testing"
)

const (
	benchSize  = 1 << 15
	benchTrace = 1 << 20
)

var benchCaches = []string{"scalekit", "otter", "golang-lru"}

// prefilled returns a cache holding every key of a 2^15 key space (the
// capacity is twice that, so no key is evicted and every Get hits) and a
// Zipf(0.99) trace over those keys.
func prefilled(b *testing.B, name string) (simCache, []uint64) {
	if name == "scalekit" {
		name = "scalekit-s3fifo"
	}
	c := newSim(b, name, 2*benchSize)
	z := NewZipf(benchSize, 0.99, 7)
	trace := make([]uint64, benchTrace)
	for i := range trace {
		trace[i] = z.Next()
	}
	for k := range uint64(benchSize) {
		c.set(k)
	}
	for k := range uint64(benchSize) {
		if !c.get(k) {
			b.Fatalf("%s: key %d missing after prefill", name, k)
		}
	}
	return c, trace
}

// BenchmarkGetParallel measures parallel Get hits on a full cache of 2^15
// entries with Zipf-distributed keys.
func BenchmarkGetParallel(b *testing.B) {
	for _, name := range benchCaches {
		b.Run(name, func(b *testing.B) {
			c, trace := prefilled(b, name)
			var seed atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(104729)) & (benchTrace - 1)
				for pb.Next() {
					c.get(trace[i])
					i = (i + 1) & (benchTrace - 1)
				}
			})
		})
	}
}

// BenchmarkReadWrite75 is a 75% Get / 25% Set mix over the same keys.
func BenchmarkReadWrite75(b *testing.B) {
	for _, name := range benchCaches {
		b.Run(name, func(b *testing.B) {
			c, trace := prefilled(b, name)
			var seed atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(104729)) & (benchTrace - 1)
				for pb.Next() {
					if i&3 == 0 {
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
