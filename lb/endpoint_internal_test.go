package lb

import (
	"math"
	"testing"
	"time"
)

func TestDecayMatchesExp(t *testing.T) {
	b := newBackend(Endpoint{Addr: "a:1"}, 10*time.Second, nil, time.Time{}, randomKey())
	for _, dt := range []time.Duration{0, time.Microsecond, time.Millisecond, 50 * time.Millisecond,
		99 * time.Millisecond, 100 * time.Millisecond, time.Second, time.Minute} {
		want := math.Exp(-float64(dt) / float64(10*time.Second))
		if got := b.decay(int64(dt), 0); math.Abs(got-want) > 2e-7*want {
			t.Errorf("decay(%v) = %.9f, want %.9f", dt, got, want)
		}
	}
	if got := b.decay(0, int64(time.Second)); got != 1 {
		t.Errorf("decay of a sample from the future = %v, want 1", got)
	}
}
