package lb_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
)

func backends(t testing.TB, eps []lb.Endpoint) []*lb.Backend {
	t.Helper()
	bs, err := lb.NewBackends(eps, 0)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

func build(t testing.TB, p lb.Policy, bs []*lb.Backend) lb.Picker {
	t.Helper()
	ws := make([]lb.Weighted, len(bs))
	for i, b := range bs {
		ws[i] = lb.Weighted{Backend: b, Weight: b.Weight()}
	}
	return p.Build(ws)
}

func TestEmptySetReturnsErrNoEndpoint(t *testing.T) {
	for _, p := range allPolicies() {
		if _, err := p.Build(nil).Pick(lb.PickInfo{Key: "k"}); err != lb.ErrNoEndpoint {
			t.Errorf("%s: got %v, want ErrNoEndpoint", p.Name(), err)
		}
	}
}

func allPolicies() []lb.Policy {
	return []lb.Policy{lb.RoundRobin(), lb.WeightedRoundRobin(), lb.Random(), lb.WeightedRandom(),
		lb.LeastConn(nil), lb.LeastResponseTime(nil), lb.LeastBandwidth(nil), lb.ConsistentHash(nil)}
}

func TestRoundRobinExact(t *testing.T) {
	eps := lbtest.Addrs(10)
	p := build(t, lb.RoundRobin(), backends(t, eps))
	seq := lbtest.Sequence(t, p, 10*37, nil, false)
	for a, c := range lbtest.Counts(seq) {
		if c != 37 {
			t.Errorf("%s got %d picks, want exactly 37", a, c)
		}
	}
	// Every window of 10 consecutive picks holds each endpoint once.
	for i := 0; i+10 <= len(seq); i++ {
		if n := len(lbtest.Counts(seq[i : i+10])); n != 10 {
			t.Fatalf("window at %d has %d distinct endpoints, want 10", i, n)
		}
	}
}

func TestWeightedRoundRobinExactAndInterleaved(t *testing.T) {
	for _, weights := range [][]int{{5, 1, 1}, {4, 3, 2, 1}, {1, 1, 1}, {100, 1}, {7, 3}} {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			eps := lbtest.Addrs(len(weights))
			total := 0
			for i, w := range weights {
				eps[i].Weight = w
				total += w
			}
			p := build(t, lb.WeightedRoundRobin(), backends(t, eps))
			seq := lbtest.Sequence(t, p, 3*total, nil, false)
			counts := lbtest.Counts(seq)
			for i, e := range eps {
				if counts[e.Addr] != 3*weights[i] {
					t.Errorf("%s (weight %d) got %d picks in 3 cycles, want %d", e.Addr, weights[i], counts[e.Addr], 3*weights[i])
				}
				// Smooth interleaving: the gap between two picks of one
				// endpoint never exceeds its fair spacing by more than one.
				limit := int(math.Ceil(float64(total)/float64(weights[i]))) + 1
				last := -1
				for j, a := range seq {
					if a != e.Addr {
						continue
					}
					if last >= 0 && j-last > limit {
						t.Errorf("%s: gap %d between picks at %d and %d, want ≤ %d", e.Addr, j-last, last, j, limit)
					}
					last = j
				}
			}
		})
	}
	// nginx's example: 5,1,1 is spread as a a b a c a a.
	eps := lbtest.Addrs(3)
	eps[0].Weight = 5
	p := build(t, lb.WeightedRoundRobin(), backends(t, eps))
	seq := lbtest.Sequence(t, p, 70, nil, false)
	if r := lbtest.MaxRun(seq); r > 4 {
		t.Errorf("longest run of one endpoint is %d, want ≤ 4 (interleaved)", r)
	}
	name := map[string]string{eps[0].Addr: "a", eps[1].Addr: "b", eps[2].Addr: "c"}
	var cycle string
	for _, a := range seq[:7] {
		cycle += name[a]
	}
	if want := "aabacaa"; !strings.Contains(want+want, cycle) {
		t.Errorf("cycle %s is not a rotation of nginx's %s", cycle, want)
	}
}

func TestRandomUniform(t *testing.T) {
	eps := lbtest.Addrs(10)
	p := build(t, lb.Random(), backends(t, eps))
	lbtest.CheckShares(t, lbtest.Counts(lbtest.Sequence(t, p, 100_000, nil, false)), lbtest.Equal(eps), 0.01)
}

func TestWeightedRandomProportional(t *testing.T) {
	eps := lbtest.Addrs(4)
	want := map[string]float64{}
	for i := range eps {
		eps[i].Weight = i + 1
		want[eps[i].Addr] = float64(i+1) / 10
	}
	p := build(t, lb.WeightedRandom(), backends(t, eps))
	lbtest.CheckShares(t, lbtest.Counts(lbtest.Sequence(t, p, 100_000, nil, false)), want, 0.01)
}

func TestLeastConnExactSmallSet(t *testing.T) {
	eps := lbtest.Addrs(5)
	eps[4].Weight = 3
	bs := backends(t, eps)
	p := build(t, lb.LeastConn(nil), bs)
	lbtest.Sequence(t, p, 70, nil, true) // every pick stays in flight
	for i, b := range bs {
		want := int64(10)
		if i == 4 {
			want = 30
		}
		if b.InFlight() != want {
			t.Errorf("%s (weight %d) has %d in flight, want exactly %d", b.Addr(), b.Weight(), b.InFlight(), want)
		}
	}
	// Release the weight-3 endpoint's calls: it is chosen next.
	for range 30 {
		bs[4].End(time.Now(), time.Millisecond, 0)
	}
	if b, _ := p.Pick(lb.PickInfo{}); b != bs[4] {
		t.Errorf("picked %s, want the idle %s", b.Addr(), bs[4].Addr())
	}
}

func TestLeastConnP2CLargeSet(t *testing.T) {
	eps := lbtest.Addrs(100)
	bs := backends(t, eps)
	p := build(t, lb.LeastConn(nil), bs)
	lbtest.Sequence(t, p, 10_000, nil, true)
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, b := range bs {
		lo, hi = min(lo, b.InFlight()), max(hi, b.InFlight())
	}
	// Power of two choices keeps the spread at O(log log n) around the mean
	// of 100; random choice would give about ±30.
	if lo < 95 || hi > 105 {
		t.Errorf("in-flight spread [%d, %d], want within [95, 105]", lo, hi)
	}
}

func TestLeastResponseTimeShunsSlowEndpoint(t *testing.T) {
	for _, n := range []int{10, 100} { // exact scan and P2C
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			eps := lbtest.Addrs(n)
			bs := backends(t, eps)
			now := time.Now()
			for i, b := range bs {
				lat := 10 * time.Millisecond
				if i == 0 {
					lat = 100 * time.Millisecond
				}
				b.Begin()
				b.End(now, lat, 0)
			}
			p := build(t, lb.LeastResponseTime(nil), bs)
			// Calls take 10 ms on fast endpoints: hold up to 4 per endpoint
			// in flight, releasing the oldest as new ones start.
			var window []*lb.Backend
			slow := 0
			picks := 200 * n
			for range picks {
				b, _ := p.Pick(lb.PickInfo{Now: now})
				b.Begin()
				window = append(window, b)
				if b == bs[0] {
					slow++
				}
				if len(window) > 4*n {
					old := window[0]
					window = window[1:]
					lat := 10 * time.Millisecond
					if old == bs[0] {
						lat = 100 * time.Millisecond
					}
					old.End(now, lat, 0)
				}
			}
			fair := picks / n
			if slow > fair/3 {
				t.Errorf("10× slower endpoint got %d picks, fair share %d: want under a third", slow, fair)
			}
		})
	}
}

func TestLeastResponseTimeProbesUnknownEndpoint(t *testing.T) {
	bs := backends(t, lbtest.Addrs(3))
	now := time.Now()
	for _, b := range bs[:2] {
		b.Begin()
		b.End(now, time.Millisecond, 0)
	}
	// Exact scan: the idle endpoint without samples wins the first pick.
	exact := build(t, lb.LeastResponseTime(&lb.LoadOptions{ExactBelow: 16}), bs)
	if b, _ := exact.Pick(lb.PickInfo{Now: now}); b != bs[2] {
		t.Fatalf("exact: picked %s, want the endpoint without samples", b.Addr())
	}
	// Default P2C: it wins every pair it is drawn into, 2/3 of picks.
	p := build(t, lb.LeastResponseTime(nil), bs)
	got := 0
	for range 300 {
		if b, _ := p.Pick(lb.PickInfo{Now: now}); b == bs[2] {
			got++
		}
	}
	if got < 150 {
		t.Fatalf("p2c: the endpoint without samples won %d of 300 picks, want about 200", got)
	}
	bs[2].Begin() // its first call is running: now it is avoided
	for _, pk := range []lb.Picker{exact, p} {
		for range 100 {
			if b, _ := pk.Pick(lb.PickInfo{Now: now}); b == bs[2] {
				t.Fatal("picked the endpoint whose first call is still running")
			}
		}
	}
}

func TestLatencyAverageIsPeakSensitiveAndForgets(t *testing.T) {
	b := backends(t, lbtest.Addrs(1))[0]
	now := time.Now()
	b.Begin()
	b.End(now, 10*time.Millisecond, 0)
	b.Begin()
	b.End(now, 200*time.Millisecond, 0)
	if got := b.Latency(now); got != 200*time.Millisecond {
		t.Fatalf("after a spike latency = %v, want the peak 200ms", got)
	}
	at := now
	for range 200 {
		at = at.Add(100 * time.Millisecond)
		b.Begin()
		b.End(at, 10*time.Millisecond, 0)
	}
	if got := b.Latency(at); got > 15*time.Millisecond {
		t.Fatalf("after 200 fast calls latency = %v, want near 10ms", got)
	}
}

func TestLeastBandwidth(t *testing.T) {
	bs := backends(t, lbtest.Addrs(4))
	now := time.Now()
	for i, b := range bs {
		b.Begin()
		b.End(now, time.Millisecond, int64(1+i)<<20)
	}
	if bw := bs[3].Bandwidth(now); bw <= bs[0].Bandwidth(now) {
		t.Fatalf("bandwidth of 4 MiB endpoint %.0f ≤ that of 1 MiB endpoint %.0f", bw, bs[0].Bandwidth(now))
	}
	p := build(t, lb.LeastBandwidth(nil), bs)
	for range 20 {
		if b, _ := p.Pick(lb.PickInfo{Now: now}); b != bs[0] {
			t.Fatalf("picked %s, want the endpoint that moved the fewest bytes", b.Addr())
		}
	}
	// Much later the averages have decayed: the rate is no longer seen.
	later := now.Add(5 * time.Minute)
	if bw := bs[3].Bandwidth(later); bw > 1 {
		t.Errorf("bandwidth 5 minutes later = %.2f B/s, want ≈ 0", bw)
	}
}

func TestPolicyAndEventNames(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range allPolicies() {
		if p.Name() == "" || seen[p.Name()] {
			t.Errorf("policy name %q empty or repeated", p.Name())
		}
		seen[p.Name()] = true
	}
	if lb.EventEjected.String() != "ejected" || lb.EventBreaker.String() != "breaker" || lb.EventKind(99).String() != "unknown" {
		t.Error("event kind names")
	}
	if (&lb.StatusError{Code: 503}).Error() != "lb: upstream status 503" {
		t.Error("StatusError text")
	}
}
