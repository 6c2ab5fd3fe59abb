package memorycache

import "math/bits"

// freqSketch is a count-min sketch of 4-bit counters with periodic halving
// (the frequency histogram of TinyLFU, Einziger, Friedman and Manes,
// "TinyLFU: A Highly Efficient Cache Admission Policy", 2017). It
// estimates how often a key was accessed recently, for keys in the cache
// and keys long gone alike, in about 2 bytes per cached entry. It is used
// only under the shard's exclusive lock.
type freqSketch struct {
	words []uint64 // 16 counters of 4 bits each
	mask  uint64   // counter index mask (counters = len(words)*16)
	added int
	ageAt int // halve every counter after this many additions
}

// sketch rows: independent multipliers turn one 64-bit hash into four
// counter indexes.
var sketchSeeds = [4]uint64{0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f, 0x165667b19e3779f9, 0xd6e8feb86659fd93}

func newFreqSketch(entries int) *freqSketch {
	if entries < 16 {
		entries = 16
	}
	counters := 1 << bits.Len(uint(4*entries-1)) // 4 rows' worth, power of two
	return &freqSketch{
		words: make([]uint64, counters/16),
		mask:  uint64(counters - 1),
		ageAt: 10 * entries,
	}
}

func (s *freqSketch) at(h uint64, row int) (word int, shift uint) {
	i := ((h ^ h>>29) * sketchSeeds[row]) >> 20 & s.mask
	return int(i >> 4), uint(i&15) * 4
}

// add counts delta more accesses of h (each counter saturates at 15).
func (s *freqSketch) add(h uint64, delta int) {
	if delta <= 0 {
		return
	}
	for r := range sketchSeeds {
		w, sh := s.at(h, r)
		c := int(s.words[w]>>sh) & 15
		if c == 15 {
			continue
		}
		c += delta
		if c > 15 {
			c = 15
		}
		s.words[w] = s.words[w]&^(15<<sh) | uint64(c)<<sh
	}
	s.added += delta
	if s.added >= s.ageAt {
		s.age()
	}
}

// estimate returns the smallest of h's counters.
func (s *freqSketch) estimate(h uint64) int {
	m := 15
	for r := range sketchSeeds {
		w, sh := s.at(h, r)
		if c := int(s.words[w]>>sh) & 15; c < m {
			m = c
		}
	}
	return m
}

// age halves every counter so that old popularity fades.
func (s *freqSketch) age() {
	for i, w := range s.words {
		s.words[i] = (w >> 1) & 0x7777777777777777
	}
	s.added /= 2
}
