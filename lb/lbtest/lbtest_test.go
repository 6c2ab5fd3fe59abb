package lbtest_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lb/lbtest"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true }

func TestCheckSharesCatchesSkew(t *testing.T) {
	eps := lbtest.Addrs(2)
	want := lbtest.Equal(eps)
	r := &recorder{TB: t}
	lbtest.CheckShares(r, map[string]int{eps[0].Addr: 50, eps[1].Addr: 50}, want, 0.01)
	if r.failed {
		t.Fatal("even split reported as skewed")
	}
	for _, counts := range []map[string]int{
		{eps[0].Addr: 70, eps[1].Addr: 30},
		{eps[0].Addr: 50, eps[1].Addr: 49, "stranger:1": 1},
	} {
		r := &recorder{TB: t}
		lbtest.CheckShares(r, counts, want, 0.005)
		if !r.failed {
			t.Errorf("%v not reported", counts)
		}
	}
}

func TestHelpers(t *testing.T) {
	if got := lbtest.MaxRun([]string{"a", "a", "b", "a", "a", "a", "c"}); got != 3 {
		t.Errorf("MaxRun = %d", got)
	}
	before := map[string]string{"k1": "a", "k2": "b", "k3": "a", "k4": "b"}
	after := map[string]string{"k1": "a", "k2": "c", "k3": "a"}
	if got := lbtest.Moved(before, after); got < 0.33 || got > 0.34 {
		t.Errorf("Moved = %v, want 1/3", got)
	}
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	if p50, p99 := lbtest.Percentile(ds, 50), lbtest.Percentile(ds, 99); p50 != 5 || p99 != 10 {
		t.Errorf("p50 %v p99 %v", p50, p99)
	}
	addrs := map[string]bool{}
	for _, e := range lbtest.Addrs(600) {
		addrs[e.Addr] = true
	}
	if len(addrs) != 600 {
		t.Errorf("Addrs gave %d distinct addresses", len(addrs))
	}
}

func TestFakeScript(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	f := &lbtest.Fake{Latency: 10 * time.Millisecond, FailRate: 0.2, FailLatency: time.Millisecond}
	fails := 0
	for range 10_000 {
		d, failed := f.Serve(rng)
		switch {
		case failed:
			fails++
			if d != time.Millisecond {
				t.Fatalf("failure took %v", d)
			}
		case d != 10*time.Millisecond:
			t.Fatalf("call took %v without jitter", d)
		}
	}
	if fails < 1800 || fails > 2200 {
		t.Errorf("%d failures in 10000 at 20%%", fails)
	}
	j := &lbtest.Fake{Latency: 10 * time.Millisecond, Jitter: 0.3}
	var ds []time.Duration
	for range 10_000 {
		d, _ := j.Serve(rng)
		ds = append(ds, d)
	}
	if p50 := lbtest.Percentile(ds, 50); p50 < 9*time.Millisecond || p50 > 11*time.Millisecond {
		t.Errorf("jittered median %v, want ≈ 10ms", p50)
	}
	if p99 := lbtest.Percentile(ds, 99); p99 < 18*time.Millisecond || p99 > 22*time.Millisecond {
		t.Errorf("jittered p99 %v, want ≈ 10ms·e^(0.3·2.33) ≈ 20ms", p99)
	}
}
