package lbtest

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lb"
)

// Fake is a virtual endpoint for simulations: Serve draws the outcome of
// one call from its script. A Fake is not safe for concurrent use; share
// one rand source per simulation.
type Fake struct {
	// Addr names the endpoint.
	Addr string
	// Latency is the median service time of a call.
	Latency time.Duration
	// Jitter spreads latencies: each call takes Latency×e^(Jitter×N(0,1))
	// (log-normal; 0 means every call takes exactly Latency).
	Jitter float64
	// FailRate is the share of calls that fail.
	FailRate float64
	// FailLatency is how long a failing call takes (0 means Latency/10: a
	// fast error, as from a refused connection or an early 500).
	FailLatency time.Duration
}

// Serve returns the service time of one call and whether it failed.
func (f *Fake) Serve(r *rand.Rand) (time.Duration, bool) {
	if f.FailRate > 0 && r.Float64() < f.FailRate {
		if f.FailLatency > 0 {
			return f.FailLatency, true
		}
		return max(f.Latency/10, 1), true
	}
	d := f.Latency
	if f.Jitter > 0 {
		d = time.Duration(float64(d) * math.Exp(f.Jitter*r.NormFloat64()))
	}
	return max(d, 1), false
}

// Endpoints returns the lb endpoints of fakes (weight 1).
func Endpoints(fakes []*Fake) []lb.Endpoint {
	out := make([]lb.Endpoint, len(fakes))
	for i, f := range fakes {
		out[i] = lb.Endpoint{Addr: f.Addr}
	}
	return out
}

// Addrs returns n distinct endpoint addresses "10.0.0.i:80".
func Addrs(n int) []lb.Endpoint {
	out := make([]lb.Endpoint, n)
	for i := range out {
		out[i] = lb.Endpoint{Addr: "10.0." + itoa(i/250) + "." + itoa(i%250+1) + ":80"}
	}
	return out
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// Counts tallies a pick sequence by address.
func Counts(seq []string) map[string]int {
	m := map[string]int{}
	for _, a := range seq {
		m[a]++
	}
	return m
}

// Sequence makes n picks with p and returns the picked addresses. Each
// pick is released at once (Begin and End) unless hold is set, in which
// case every pick stays in flight (for load-aware policies).
func Sequence(t testing.TB, p lb.Picker, n int, info func(i int) lb.PickInfo, hold bool) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		var pi lb.PickInfo
		if info != nil {
			pi = info(i)
		}
		be, err := p.Pick(pi)
		if err != nil {
			t.Fatalf("pick %d: %v", i, err)
		}
		be.Begin()
		if !hold {
			be.End(time.Now(), time.Millisecond, 0)
		}
		out[i] = be.Addr()
	}
	return out
}

// CheckShares fails t unless every address in want got its expected share
// of counts within tol (an absolute share, 0.02 is ±2 points), and no
// other address got any.
func CheckShares(t testing.TB, counts map[string]int, want map[string]float64, tol float64) {
	t.Helper()
	total := 0
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		t.Fatal("no picks")
	}
	for a, c := range counts {
		if _, ok := want[a]; !ok {
			t.Errorf("%s got %d picks, expected none", a, c)
		}
	}
	for _, a := range sortedKeys(want) {
		got := float64(counts[a]) / float64(total)
		if math.Abs(got-want[a]) > tol {
			t.Errorf("%s got share %.4f, want %.4f ± %.4f", a, got, want[a], tol)
		}
	}
}

// Equal returns the share map giving each endpoint 1/n.
func Equal(eps []lb.Endpoint) map[string]float64 {
	m := map[string]float64{}
	for _, e := range eps {
		m[e.Addr] = 1 / float64(len(eps))
	}
	return m
}

// MaxRun returns the longest run of one address in seq (smooth weighted
// round robin keeps it short; a naive weighted round robin gives runs as
// long as the largest weight).
func MaxRun(seq []string) int {
	best, run := 0, 0
	for i := range seq {
		if i > 0 && seq[i] == seq[i-1] {
			run++
		} else {
			run = 1
		}
		best = max(best, run)
	}
	return best
}

// Moved returns the share of keys whose endpoint differs between before
// and after, counting only keys present in both.
func Moved(before, after map[string]string) float64 {
	n, moved := 0, 0
	for k, a := range before {
		b, ok := after[k]
		if !ok {
			continue
		}
		n++
		if a != b {
			moved++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(moved) / float64(n)
}

// Percentile returns the p-th percentile (0..100) of ds, which it sorts.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(math.Ceil(p/100*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
