package mix

import "testing"

// Both fix zero and avalanche (flipping any input bit flips about half of
// the output bits), and SplitMix64 gives the generator's known first
// output from seed 0.
func TestFinalisers(t *testing.T) {
	for name, f := range map[string]func(uint64) uint64{"SplitMix64": SplitMix64, "Murmur64": Murmur64} {
		if f(0) != 0 {
			t.Errorf("%s(0) = %#x, want 0 (both finalisers fix zero)", name, f(0))
		}
		total := 0
		for bit := 0; bit < 64; bit++ {
			x := uint64(0x0123456789abcdef)
			d := f(x) ^ f(x^(1<<bit))
			n := 0
			for ; d != 0; d &= d - 1 {
				n++
			}
			if n < 12 || n > 52 {
				t.Errorf("%s: flipping bit %d flips %d output bits", name, bit, n)
			}
			total += n
		}
		if avg := float64(total) / 64; avg < 28 || avg > 36 {
			t.Errorf("%s: a flipped input bit flips %.1f output bits on average, want ≈ 32", name, avg)
		}
	}
	if got := SplitMix64(0x9e3779b97f4a7c15); got != 0xe220a8397b1dcdaf {
		t.Errorf("SplitMix64(golden gamma) = %#x, want 0xe220a8397b1dcdaf (the generator's first output from seed 0)", got)
	}
}
