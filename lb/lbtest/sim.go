package lbtest

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lb"
)

// The heterogeneous-backend simulation: 10 endpoints serve a Poisson
// stream of requests in virtual time. Each endpoint runs SimWorkers calls
// at once and queues the rest (an M/G/c queue); a call takes 10 ms
// (log-normal, σ = 0.3) on eight endpoints, 100 ms on the slow one, and
// the flaky one fails 20 % of its calls fast (1 ms). Arrivals and service
// times come from a generator seeded with SimOptions.Seed, and the
// balancer runs on a virtual clock, so a run takes a fraction of a second
// for minutes of traffic. (The pickers' own random draws are seeded only
// where lb's tests can reach them.)

// SimWorkers is how many calls a simulated endpoint serves at once.
const SimWorkers = 8

// SimOptions configures Simulate.
type SimOptions struct {
	// Seed seeds arrivals and service times.
	Seed uint64
	// Span is the virtual time of traffic (default 120 s).
	Span time.Duration
	// Rate is requests per second (default 400).
	Rate float64
}

// SimResult is what one simulation measured.
type SimResult struct {
	// P50 and P99 are latency percentiles, queueing included.
	P50, P99 time.Duration
	// ErrRate is the fraction of calls that failed.
	ErrRate float64
	// SlowShare and FlakyShare are the fractions of picks that went to
	// the slow and to the flaky endpoint.
	SlowShare, FlakyShare float64
	// Ejections counts the outlier ejections of those two endpoints.
	Ejections uint64
	// Requests is how many calls completed.
	Requests int
}

// SimEjection is outlier detection as the simulation's tables run it: a
// failure rate over 10 % in a 10 s window ejects for 30 s (growing).
var SimEjection = &lb.OutlierOptions{FailureRate: 0.1, MinRequests: 20, Window: 10 * time.Second,
	BaseEjection: 30 * time.Second}

var (
	simT0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	errSimCall = errors.New("lbtest: simulated call failed")
)

// Simulate runs the simulation with policy and outlier (nil: none).
func Simulate(policy lb.Policy, outlier *lb.OutlierOptions, o SimOptions) (SimResult, error) {
	if o.Span <= 0 {
		o.Span = 120 * time.Second
	}
	if o.Rate <= 0 {
		o.Rate = 400
	}
	rng := rand.New(rand.NewPCG(o.Seed, 2))
	q := &simQueue{}
	clk := &simClock{now: simT0, q: q}
	fakes := make([]*Fake, 10)
	for i := range fakes {
		fakes[i] = &Fake{Addr: fmt.Sprintf("10.0.0.%d:80", i+1), Latency: 10 * time.Millisecond, Jitter: 0.3}
	}
	fakes[0].Latency = 100 * time.Millisecond // 10× slower
	fakes[1].FailRate = 0.2                   // fails 20 %
	fakes[1].FailLatency = time.Millisecond
	bal, err := lb.New(Endpoints(fakes), &lb.Options{Policy: policy, Outlier: outlier, Clock: clk})
	if err != nil {
		return SimResult{}, err
	}
	defer bal.Close()
	type endpoint struct {
		fake  *Fake
		busy  int
		queue []func() // calls waiting for a worker
	}
	eps := map[string]*endpoint{}
	for _, f := range fakes {
		eps[f.Addr] = &endpoint{fake: f}
	}
	at := func(t time.Time, fn func()) { heap.Push(q, &simEvent{at: t, fn: fn}) }
	var lats []time.Duration
	errs := 0
	start := func(se *endpoint, r lb.Result, arrived time.Time) {
		se.busy++
		d, failed := se.fake.Serve(rng)
		at(clk.now.Add(d), func() {
			se.busy--
			var e error
			if failed {
				e = errSimCall
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
	var pickErr error
	var arrive func()
	arrive = func() {
		if clk.now.Sub(simT0) < o.Span {
			at(clk.now.Add(time.Duration(rng.ExpFloat64()/o.Rate*float64(time.Second))), arrive)
		}
		r, err := bal.Pick(lb.PickInfo{Now: clk.now})
		if err != nil {
			pickErr = err
			return
		}
		se := eps[r.Backend.Addr()]
		arrived := clk.now
		if se.busy < SimWorkers {
			start(se, r, arrived)
		} else {
			se.queue = append(se.queue, func() { start(se, r, arrived) })
		}
	}
	at(simT0, arrive)
	for q.Len() > 0 && pickErr == nil {
		e := heap.Pop(q).(*simEvent)
		if e.cancelled {
			continue
		}
		clk.now = e.at
		e.fn()
	}
	if pickErr != nil {
		return SimResult{}, pickErr
	}
	res := SimResult{Requests: len(lats), ErrRate: float64(errs) / float64(max(1, len(lats)))}
	for _, f := range fakes[:2] {
		be, _ := bal.Backend(f.Addr)
		share := float64(be.Picks()) / float64(max(1, len(lats)))
		if f == fakes[0] {
			res.SlowShare = share
		} else {
			res.FlakyShare = share
		}
		res.Ejections += be.Ejections()
	}
	res.P50 = Percentile(lats, 50)
	res.P99 = Percentile(lats, 99)
	return res, nil
}

// simClock is a virtual clock driven by the simulation's event queue:
// AfterFunc callbacks (ejection periods, drain deadlines) run in order as
// events, synchronously.
type simClock struct {
	now time.Time
	q   *simQueue
}

func (c *simClock) Now() time.Time                  { return c.now }
func (c *simClock) Since(t time.Time) time.Duration { return c.now.Sub(t) }
func (c *simClock) NewTimer(time.Duration) clock.Timer {
	panic("lbtest simulation: NewTimer not supported")
}
func (c *simClock) NewTicker(time.Duration) clock.Ticker {
	panic("lbtest simulation: NewTicker not supported")
}
func (c *simClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	e := &simEvent{at: c.now.Add(d), fn: f}
	heap.Push(c.q, e)
	return e
}

// simEvent is a scheduled callback; as a clock.Timer it can be stopped.
type simEvent struct {
	at        time.Time
	seq       uint64
	fn        func()
	cancelled bool
}

func (e *simEvent) C() <-chan time.Time      { return nil }
func (e *simEvent) Stop() bool               { was := !e.cancelled; e.cancelled = true; return was }
func (e *simEvent) Reset(time.Duration) bool { panic("lbtest simulation: Reset not supported") }

// simQueue orders events by time, then by scheduling order.
type simQueue struct {
	es  []*simEvent
	seq uint64
}

func (q *simQueue) Len() int { return len(q.es) }
func (q *simQueue) Less(i, j int) bool {
	if !q.es[i].at.Equal(q.es[j].at) {
		return q.es[i].at.Before(q.es[j].at)
	}
	return q.es[i].seq < q.es[j].seq
}
func (q *simQueue) Swap(i, j int) { q.es[i], q.es[j] = q.es[j], q.es[i] }
func (q *simQueue) Push(x any) {
	e := x.(*simEvent)
	q.seq++
	e.seq = q.seq
	q.es = append(q.es, e)
}
func (q *simQueue) Pop() any {
	e := q.es[len(q.es)-1]
	q.es = q.es[:len(q.es)-1]
	return e
}
