package lb_test

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
)

// The simulation: 10 endpoints serve a Poisson stream of requests in
// virtual time. Each endpoint runs simWorkers calls at once and queues the
// rest (an M/G/c queue); a call takes 10 ms (log-normal, σ = 0.3) on eight
// endpoints, 100 ms on the slow one, and the flaky one fails 20 % of its
// calls fast (1 ms). Every random draw comes from seeded generators and
// the balancer runs on a virtual clock, so a run is deterministic and takes
// a fraction of a second for minutes of traffic.
const (
	simWorkers = 8
	simRate    = 400.0 // requests per second
	simSpan    = 120 * time.Second
)

// simClock is a virtual clock driven by the simulation's event queue:
// AfterFunc callbacks (ejection periods, drain deadlines) run in order as
// events, synchronously.
type simClock struct {
	now time.Time
	q   *eventQueue
}

func (c *simClock) Now() time.Time                  { return c.now }
func (c *simClock) Since(t time.Time) time.Duration { return c.now.Sub(t) }
func (c *simClock) NewTimer(time.Duration) clock.Timer {
	panic("simulation: NewTimer not supported")
}
func (c *simClock) NewTicker(time.Duration) clock.Ticker {
	panic("simulation: NewTicker not supported")
}
func (c *simClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	e := &event{at: c.now.Add(d), fn: f}
	heap.Push(c.q, e)
	return e
}

type event struct {
	at        time.Time
	seq       uint64
	fn        func()
	cancelled bool
}

func (e *event) C() <-chan time.Time      { return nil }
func (e *event) Stop() bool               { was := !e.cancelled; e.cancelled = true; return was }
func (e *event) Reset(time.Duration) bool { panic("simulation: Reset not supported") }

type eventQueue struct {
	es  []*event
	seq uint64
}

func (q *eventQueue) Len() int { return len(q.es) }
func (q *eventQueue) Less(i, j int) bool {
	if !q.es[i].at.Equal(q.es[j].at) {
		return q.es[i].at.Before(q.es[j].at)
	}
	return q.es[i].seq < q.es[j].seq
}
func (q *eventQueue) Swap(i, j int) { q.es[i], q.es[j] = q.es[j], q.es[i] }
func (q *eventQueue) Push(x any) {
	e := x.(*event)
	q.seq++
	e.seq = q.seq
	q.es = append(q.es, e)
}
func (q *eventQueue) Pop() any {
	e := q.es[len(q.es)-1]
	q.es = q.es[:len(q.es)-1]
	return e
}

// simEndpoint is one M/G/c server.
type simEndpoint struct {
	fake  *lbtest.Fake
	busy  int
	queue []func() // calls waiting for a worker
}

type simResult struct {
	name       string
	p50, p99   time.Duration
	errRate    float64
	slowShare  float64
	flakyShare float64
	ejections  uint64
	requests   int
}

func simulate(tb testing.TB, name string, policy lb.Policy, outlier *lb.OutlierOptions, seed uint64) simResult {
	restore := lb.SetRandForTest(rand.New(rand.NewPCG(seed, 1)))
	defer restore()
	rng := rand.New(rand.NewPCG(seed, 2))
	q := &eventQueue{}
	clk := &simClock{now: t0, q: q}
	fakes := make([]*lbtest.Fake, 10)
	for i := range fakes {
		fakes[i] = &lbtest.Fake{Addr: fmt.Sprintf("10.0.0.%d:80", i+1), Latency: 10 * time.Millisecond, Jitter: 0.3}
	}
	fakes[0].Latency = 100 * time.Millisecond // 10× slower
	fakes[1].FailRate = 0.2                   // fails 20 %
	fakes[1].FailLatency = time.Millisecond
	bal, err := lb.New(lbtest.Endpoints(fakes), &lb.Options{Policy: policy, Outlier: outlier, Clock: clk})
	if err != nil {
		tb.Fatal(err)
	}
	defer bal.Close()
	eps := map[string]*simEndpoint{}
	for _, f := range fakes {
		eps[f.Addr] = &simEndpoint{fake: f}
	}
	at := func(t time.Time, fn func()) { heap.Push(q, &event{at: t, fn: fn}) }

	var lats []time.Duration
	errs := 0
	start := func(se *simEndpoint, r lb.Result, arrived time.Time) {
		se.busy++
		d, failed := se.fake.Serve(rng)
		at(clk.now.Add(d), func() {
			se.busy--
			var e error
			if failed {
				e = errBoom
				errs++
			}
			r.Done(lb.DoneInfo{Err: e})
			lats = append(lats, clk.now.Sub(arrived))
			if len(se.queue) > 0 {
				next := se.queue[0]
				se.queue = se.queue[1:]
				next()
			}
		})
	}
	var arrive func()
	arrive = func() {
		if clk.now.Sub(t0) < simSpan {
			at(clk.now.Add(time.Duration(rng.ExpFloat64()/simRate*float64(time.Second))), arrive)
		}
		r, err := bal.Pick(lb.PickInfo{Now: clk.now})
		if err != nil {
			tb.Fatal(err)
		}
		se := eps[r.Backend.Addr()]
		arrived := clk.now
		if se.busy < simWorkers {
			start(se, r, arrived)
		} else {
			se.queue = append(se.queue, func() { start(se, r, arrived) })
		}
	}
	at(t0, arrive)
	for q.Len() > 0 {
		e := heap.Pop(q).(*event)
		if e.cancelled {
			continue
		}
		clk.now = e.at
		e.fn()
	}
	res := simResult{name: name, requests: len(lats), errRate: float64(errs) / float64(len(lats))}
	for _, f := range fakes[:2] {
		be, _ := bal.Backend(f.Addr)
		share := float64(be.Picks()) / float64(len(lats))
		if f == fakes[0] {
			res.slowShare = share
		} else {
			res.flakyShare = share
		}
		res.ejections += be.Ejections()
	}
	res.p50 = lbtest.Percentile(lats, 50)
	res.p99 = lbtest.Percentile(lats, 99)
	return res
}

// simEjection is outlier detection as the simulation runs it: a failure
// rate over 10 % in a 10 s window ejects for 30 s (growing).
var simEjection = &lb.OutlierOptions{FailureRate: 0.1, MinRequests: 20, Window: 10 * time.Second,
	BaseEjection: 30 * time.Second}

type simCase struct {
	name    string
	policy  lb.Policy
	outlier *lb.OutlierOptions
}

func simCases() []simCase {
	return []simCase{
		{"round-robin", lb.RoundRobin(), nil},
		{"round-robin+ejection", lb.RoundRobin(), simEjection},
		{"least-conn", lb.LeastConn(nil), nil},
		{"least-conn+ejection", lb.LeastConn(nil), simEjection},
		// The default LeastResponseTime: power of two choices at any size.
		{"p2c-ewma", lb.LeastResponseTime(nil), nil},
		{"p2c-ewma+ejection", lb.LeastResponseTime(nil), simEjection},
		// The same cost scanned over all 10 endpoints (the default before
		// P2C became the default at every size).
		{"ewma-exact+ejection", lb.LeastResponseTime(&lb.LoadOptions{ExactBelow: 16}), simEjection},
	}
}

// TestSimulation checks the claim of the README table: P2C over peak-EWMA
// latency with ejection cuts p99 latency and errors versus round robin.
// Run with -v to print the table.
func TestSimulation(t *testing.T) {
	res := map[string]simResult{}
	var table strings.Builder
	fmt.Fprintf(&table, "| policy | p50 | p99 | errors | slow endpoint share | flaky endpoint share | ejections |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range simCases() {
		r := simulate(t, c.name, c.policy, c.outlier, 42)
		res[c.name] = r
		fmt.Fprintf(&table, "| %s | %.1f ms | %.1f ms | %.2f%% | %.1f%% | %.1f%% | %d |\n", r.name,
			ms(r.p50), ms(r.p99), 100*r.errRate, 100*r.slowShare, 100*r.flakyShare, r.ejections)
	}
	rr, p2c := res["round-robin"], res["p2c-ewma+ejection"]
	t.Logf("%d requests per run\n%s\np99 round-robin / p2c-ewma+ejection = %.1f×", rr.requests, table.String(), ms(rr.p99)/ms(p2c.p99))
	if p2c.p99*2 > rr.p99 {
		t.Errorf("p2c-ewma+ejection p99 %v is not under half of round robin's %v", p2c.p99, rr.p99)
	}
	if p2c.errRate >= rr.errRate/2 {
		t.Errorf("p2c-ewma+ejection error rate %.3f not under half of round robin's %.3f", p2c.errRate, rr.errRate)
	}
	// Deterministic: the same seed gives the same figures.
	if again := simulate(t, "p2c", lb.LeastResponseTime(nil), simEjection, 42); again != (simResult{
		name: "p2c", p50: p2c.p50, p99: p2c.p99, errRate: p2c.errRate, slowShare: p2c.slowShare,
		flakyShare: p2c.flakyShare, ejections: p2c.ejections, requests: p2c.requests}) {
		t.Errorf("two runs with one seed differ: %+v vs %+v", again, p2c)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkSimulation reports p50/p99 latency (ms) and the error rate (%)
// of each policy in the simulation (seed 42, the figures of
// TestSimulation), and the cost of simulating 120 s of traffic.
func BenchmarkSimulation(b *testing.B) {
	for _, c := range simCases() {
		b.Run(c.name, func(b *testing.B) {
			var r simResult
			for b.Loop() {
				r = simulate(b, c.name, c.policy, c.outlier, 42)
			}
			b.ReportMetric(ms(r.p50), "p50-ms")
			b.ReportMetric(ms(r.p99), "p99-ms")
			b.ReportMetric(100*r.errRate, "err-%")
		})
	}
}
