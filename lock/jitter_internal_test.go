package lock

import (
	"testing"
	"time"
)

func TestJitterSpreadsRenewals(t *testing.T) {
	const d = time.Second
	seen := map[time.Duration]bool{}
	lo, hi := d, d
	for i := 0; i < 1000; i++ {
		j := jitter(d)
		if j < d-d/10 || j > d+d/10 {
			t.Fatalf("jitter(%v) = %v, outside ±10%%", d, j)
		}
		lo, hi = min(lo, j), max(hi, j)
		seen[j] = true
	}
	if len(seen) < 900 || hi-lo < d/6 {
		t.Fatalf("jitter barely varies: %d distinct values in [%v, %v]", len(seen), lo, hi)
	}
	if jitter(2) != 2 {
		t.Fatal("tiny durations are not jittered")
	}
	if a, b := newOwner(), newOwner(); a == b || len(a) != 32 {
		t.Fatalf("owner ids %q %q", a, b)
	}
}
