package lb

import (
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"
)

// PickInfo describes the call a Picker chooses an endpoint for.
type PickInfo struct {
	// Key is the affinity key of hash policies (client IP, a header or a
	// cookie value, see KeyFunc). Empty means "no affinity": hash policies
	// then pick at random.
	Key string
	// Sticky is the ID of the endpoint a sticky session wants (the value of
	// the session cookie). Balancer.Pick honours it while that endpoint is
	// ready and falls back to the policy otherwise. Pickers ignore it.
	Sticky string
	// Request is the HTTP request being balanced, if any.
	Request *http.Request
	// Avoid lists endpoints that already failed this call (retries); the
	// Balancer picks another one when it can.
	Avoid []*Backend
	// Now is the time of the pick. Balancer.Pick fills it; pickers that need
	// time (latency and bandwidth averages) read the clock when it is zero.
	Now time.Time
}

// Picker chooses an endpoint for one call. A Picker is an immutable
// snapshot of the ready endpoints built by a Policy: the Balancer swaps in a
// new one atomically when the set, the weights or the health change, so Pick
// never blocks and never sees a half-updated set.
//
// Pick must be safe for concurrent use and must not block. It returns
// ErrNoEndpoint when the snapshot is empty.
type Picker interface {
	Pick(info PickInfo) (*Backend, error)
}

// Weighted is a ready endpoint with its effective weight at build time
// (the configured weight, reduced during slow start).
type Weighted struct {
	// Backend is the endpoint.
	Backend *Backend
	// Weight is at least 1.
	Weight int
}

// Policy builds Pickers. Build is called with the ready endpoints whenever
// they change and must not keep a reference to the slice after returning.
// Policies are safe for concurrent use.
type Policy interface {
	// Name names the policy in metrics and docs ("round_robin", ...).
	Name() string
	// Build returns a Picker over ready, which may be empty.
	Build(ready []Weighted) Picker
}

// randU64 is the pickers' random source. It is a variable so that the
// simulation benchmark can make every random choice reproducible.
var randU64 = rand.Uint64

// randN returns a pseudo-random int in [0, n), 0 < n < 2^32, by
// multiply-shift on 32 random bits (bias below n/2^32, far below anything
// a load balancer can notice).
func randN(n int) int {
	return int((randU64() >> 32) * uint64(n) >> 32)
}

type emptyPicker struct{}

func (emptyPicker) Pick(PickInfo) (*Backend, error) { return nil, ErrNoEndpoint }

func backendsOf(ready []Weighted) []*Backend {
	out := make([]*Backend, len(ready))
	for i, w := range ready {
		out[i] = w.Backend
	}
	return out
}

func weightsOf(ready []Weighted) []int {
	out := make([]int, len(ready))
	for i, w := range ready {
		out[i] = max(w.Weight, 1)
	}
	return out
}

// RoundRobin returns the policy that hands calls to the ready endpoints in
// turn, ignoring weights. Over any n×k consecutive picks of one snapshot
// each of the n endpoints gets exactly k.
func RoundRobin() Policy { return rrPolicy{} }

type rrPolicy struct{}

func (rrPolicy) Name() string { return "round_robin" }

func (rrPolicy) Build(ready []Weighted) Picker {
	if len(ready) == 0 {
		return emptyPicker{}
	}
	p := &rrPicker{set: backendsOf(ready)}
	// Start at a random offset so that many clients built at the same
	// moment do not all hit endpoint 0 first.
	p.next.Store(uint64(randN(len(ready))))
	return p
}

type rrPicker struct {
	_    [64]byte // keep the hot counter off the slice header's cache line
	next atomic.Uint64
	_    [56]byte
	set  []*Backend
}

func (p *rrPicker) Pick(PickInfo) (*Backend, error) {
	i := p.next.Add(1) - 1
	return p.set[i%uint64(len(p.set))], nil
}

// Random returns the policy that picks a uniformly random ready endpoint.
func Random() Policy { return randomPolicy{} }

type randomPolicy struct{}

func (randomPolicy) Name() string { return "random" }

func (randomPolicy) Build(ready []Weighted) Picker {
	if len(ready) == 0 {
		return emptyPicker{}
	}
	return randomPicker(backendsOf(ready))
}

type randomPicker []*Backend

func (p randomPicker) Pick(PickInfo) (*Backend, error) {
	return p[randN(len(p))], nil
}

// WeightedRandom returns the policy that picks an endpoint at random with
// probability proportional to its weight.
func WeightedRandom() Policy { return wrandPolicy{} }

type wrandPolicy struct{}

func (wrandPolicy) Name() string { return "weighted_random" }

func (wrandPolicy) Build(ready []Weighted) Picker {
	if len(ready) == 0 {
		return emptyPicker{}
	}
	p := &wrandPicker{set: backendsOf(ready), cum: make([]int, len(ready))}
	total := 0
	for i, w := range weightsOf(ready) {
		total += w
		p.cum[i] = total
	}
	return p
}

type wrandPicker struct {
	set []*Backend
	cum []int // cumulative weights
}

func (p *wrandPicker) Pick(PickInfo) (*Backend, error) {
	r := randN(p.cum[len(p.cum)-1])
	lo, hi := 0, len(p.cum)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.cum[m] > r {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return p.set[lo], nil
}

// maxSchedule caps the length of a smooth weighted round-robin cycle;
// larger weight sums are scaled down proportionally.
const maxSchedule = 4096

// WeightedRoundRobin returns nginx's smooth weighted round robin: each
// endpoint gets a share of picks proportional to its weight, and the picks
// are interleaved evenly (weights 5,1,1 give a a b a c a a, not a a a a a b c).
// The cycle is computed once per snapshot, so Pick is one atomic add.
func WeightedRoundRobin() Policy { return swrrPolicy{} }

type swrrPolicy struct{}

func (swrrPolicy) Name() string { return "weighted_round_robin" }

func (swrrPolicy) Build(ready []Weighted) Picker {
	if len(ready) == 0 {
		return emptyPicker{}
	}
	w := normaliseWeights(weightsOf(ready))
	total := 0
	for _, x := range w {
		total += x
	}
	set := backendsOf(ready)
	p := &rrPicker{set: make([]*Backend, total)}
	cur := make([]int, len(w))
	for k := 0; k < total; k++ {
		best := 0
		for i := range w {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		p.set[k] = set[best]
	}
	p.next.Store(uint64(randN(total)))
	return p
}

// normaliseWeights divides weights by their gcd and, if the sum still
// exceeds maxSchedule, scales them down (keeping every weight ≥ 1).
func normaliseWeights(w []int) []int {
	g := 0
	for _, x := range w {
		g = gcd(g, x)
	}
	sum := 0
	out := make([]int, len(w))
	for i, x := range w {
		out[i] = x / g
		sum += out[i]
	}
	if sum <= maxSchedule {
		return out
	}
	budget := float64(maxSchedule - len(w))
	for i, x := range out {
		out[i] = 1 + int(float64(x)/float64(sum)*budget)
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// twoDistinct returns two different random indexes in [0, n), n ≥ 2.
func twoDistinct(n int) (int, int) {
	x := randU64() // one draw, split in two 32-bit halves
	i := int((x >> 32) * uint64(n) >> 32)
	j := int((x & 0xffffffff) * uint64(n-1) >> 32)
	if j >= i {
		j++
	}
	return i, j
}
