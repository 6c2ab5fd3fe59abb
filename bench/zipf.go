// Package bench holds side-by-side benchmarks of scalekit against peer
// libraries (otter v2, hashicorp/golang-lru v2). It is a nested module so
// the peers stay out of scalekit's own go.mod.
package bench

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Zipf draws keys in [0, n) with P(k) proportional to 1/(k+1)^s. Unlike
// math/rand.Zipf it accepts 0 < s <= 1 (the usual s = 0.99 of cache
// traces). It is not safe for concurrent use.
type Zipf struct {
	cdf []float64
	r   *rand.Rand
}

// NewZipf builds the cumulative distribution of n keys with exponent s.
func NewZipf(n int, s float64, seed uint64) *Zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return &Zipf{cdf: cdf, r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Next returns the next key.
func (z *Zipf) Next() uint64 {
	return uint64(sort.SearchFloat64s(z.cdf, z.r.Float64()))
}

// Trace returns m keys drawn from z. Ranks are scrambled with a fixed
// bijection so that hot keys are not the small integers.
func (z *Zipf) Trace(m int) []uint64 {
	out := make([]uint64, m)
	for i := range out {
		out[i] = scramble(z.Next())
	}
	return out
}

func scramble(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x
}
