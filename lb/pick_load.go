package lb

import (
	"math"
	"time"
)

// DefaultExactBelow is the set size up to which LeastConn and
// LeastBandwidth scan every endpoint; larger sets use power of two
// choices. LeastResponseTime uses power of two choices at every size unless
// LoadOptions.ExactBelow asks for a scan.
const DefaultExactBelow = 16

// LoadOptions tunes the load-aware policies. A nil *LoadOptions means the
// defaults.
type LoadOptions struct {
	// ExactBelow: sets of at most this many endpoints are scanned in full
	// for the exact minimum; larger sets compare two random endpoints
	// (power of two choices), which is O(1) and avoids herding every client
	// onto the same momentarily idle endpoint. Zero means the policy's
	// default: DefaultExactBelow for LeastConn and LeastBandwidth, always
	// P2C for LeastResponseTime; negative means always P2C.
	ExactBelow int
}

func (o *LoadOptions) exactBelow(def int) int {
	if o == nil || o.ExactBelow == 0 {
		return def
	}
	return o.ExactBelow
}

// loadSet is the shared shape of the load-aware pickers: backends, their
// weights, and a cost function (lower is better).
type loadSet struct {
	set   []*Backend
	inv   []float64 // 1/weight: multiplying is cheaper than dividing
	exact bool
}

func newLoadSet(ready []Weighted, o *LoadOptions, defExact int) loadSet {
	ls := loadSet{set: backendsOf(ready), inv: make([]float64, len(ready))}
	for i, w := range weightsOf(ready) {
		ls.inv[i] = 1 / float64(w)
	}
	ls.exact = len(ready) <= o.exactBelow(defExact)
	return ls
}

// LeastConn returns the least-connections policy: the endpoint with the
// fewest in-flight calls per unit of weight wins. Small sets are scanned
// exactly (ties broken by a random starting point); large ones use power
// of two choices.
func LeastConn(o *LoadOptions) Policy { return lcPolicy{o} }

type lcPolicy struct{ o *LoadOptions }

func (lcPolicy) Name() string { return "least_conn" }

func (p lcPolicy) Build(ready []Weighted) Picker {
	if len(ready) == 0 {
		return emptyPicker{}
	}
	return &lcPicker{newLoadSet(ready, p.o, DefaultExactBelow)}
}

type lcPicker struct{ loadSet }

func (p *lcPicker) cost(i int) float64 {
	return float64(p.set[i].inflight.Load()+1) * p.inv[i]
}

func (p *lcPicker) Pick(PickInfo) (*Backend, error) {
	n := len(p.set)
	if n == 1 {
		return p.set[0], nil
	}
	if !p.exact {
		i, j := twoDistinct(n)
		if p.cost(j) < p.cost(i) {
			i = j
		}
		return p.set[i], nil
	}
	start := randN(n)
	best, bestCost := start, p.cost(start)
	for k := 1; k < n; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		if c := p.cost(i); c < bestCost {
			best, bestCost = i, c
		}
	}
	return p.set[best], nil
}

// LeastResponseTime returns the least-response-time policy: power of two
// choices over cost = peak-EWMA latency × (in-flight + 1) / weight, the
// method of Finagle, Linkerd and go-zero. Peak EWMA reacts at once to a
// latency spike and forgets it gradually, so a slow endpoint is shunned
// quickly and retried once it recovers. An endpoint with no latency sample
// yet costs nothing while idle (so it gets probed) and is treated as very
// expensive while its first call is still running.
func LeastResponseTime(o *LoadOptions) Policy { return lrtPolicy{o} }

type lrtPolicy struct{ o *LoadOptions }

func (lrtPolicy) Name() string { return "least_response_time" }

func (p lrtPolicy) Build(ready []Weighted) Picker {
	if len(ready) == 0 {
		return emptyPicker{}
	}
	// Always P2C by default: a scan of 10 endpoints reads 30 atomics and
	// costs ~100 ns; two choices cost a fifth of that, and the simulation
	// (sim_test.go) shows the same p99 (see README).
	return &lrtPicker{newLoadSet(ready, p.o, -1)}
}

type lrtPicker struct{ loadSet }

func (p *lrtPicker) cost(i int, now int64) float64 {
	return lrtCost(p.set[i], now) * p.inv[i]
}

// lrtCost is peak-EWMA latency decayed to now × (in-flight + 1), before
// weighting. It is latencyAt written out so that the common case (a
// sample well within the decay time) stays a handful of instructions: the
// P2C pick runs it twice and nothing else of note.
func lrtCost(b *Backend, now int64) float64 {
	v := math.Float64frombits(b.ewma.Load())
	in := b.inflight.Load()
	if v == 0 {
		if in == 0 {
			return 0
		}
		return math.MaxFloat64 / 4
	}
	if dt := now - b.ewmaAt.Load(); dt > 0 {
		x := float64(dt) * b.invTau
		if x < 0.01 {
			v *= 1 - x + x*x/2
		} else {
			v *= math.Exp(-x)
		}
	}
	return v * float64(in+1)
}

func (p *lrtPicker) Pick(info PickInfo) (*Backend, error) {
	n := len(p.set)
	if n == 1 {
		return p.set[0], nil
	}
	now := nowNanos(&info)
	if !p.exact {
		i, j := twoDistinct(n)
		bi, bj := p.set[i], p.set[j]
		if lrtCost(bj, now)*p.inv[j] < lrtCost(bi, now)*p.inv[i] {
			return bj, nil
		}
		return bi, nil
	}
	start := randN(n)
	best, bestCost := start, p.cost(start, now)
	for k := 1; k < n; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		if c := p.cost(i, now); c < bestCost {
			best, bestCost = i, c
		}
	}
	return p.set[best], nil
}

// LeastBandwidth returns the least-bandwidth policy: the endpoint that
// moved the fewest bytes per second recently (per unit of weight) wins. The
// rate is an exponentially decayed byte count fed by DoneInfo.Bytes.
func LeastBandwidth(o *LoadOptions) Policy { return lbwPolicy{o} }

type lbwPolicy struct{ o *LoadOptions }

func (lbwPolicy) Name() string { return "least_bandwidth" }

func (p lbwPolicy) Build(ready []Weighted) Picker {
	if len(ready) == 0 {
		return emptyPicker{}
	}
	return &lbwPicker{newLoadSet(ready, p.o, DefaultExactBelow)}
}

type lbwPicker struct{ loadSet }

func (p *lbwPicker) cost(i int, now int64) float64 {
	// In-flight calls break ties between endpoints that moved nothing yet.
	b := p.set[i]
	return (b.bytesAt(now) + float64(b.inflight.Load())) * p.inv[i]
}

func (p *lbwPicker) Pick(info PickInfo) (*Backend, error) {
	n := len(p.set)
	if n == 1 {
		return p.set[0], nil
	}
	now := nowNanos(&info)
	if !p.exact {
		i, j := twoDistinct(n)
		if p.cost(j, now) < p.cost(i, now) {
			i = j
		}
		return p.set[i], nil
	}
	start := randN(n)
	best, bestCost := start, p.cost(start, now)
	for k := 1; k < n; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		if c := p.cost(i, now); c < bestCost {
			best, bestCost = i, c
		}
	}
	return p.set[best], nil
}

func nowNanos(info *PickInfo) int64 {
	if info.Now.IsZero() {
		return time.Now().UnixNano()
	}
	return info.Now.UnixNano()
}
