package lb_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
	"github.com/scalekit-go/scalekit/resilience"
)

// TestBreakerRecoversUnderContinuousLoad is the go-zero/kratos bug: their
// breakers count their own rejections as failures, so under steady load an
// open breaker keeps re-tripping and never closes. Here rejections are not
// calls: once the endpoint heals, the breaker goes half-open after Timeout,
// the trial call succeeds and the endpoint is back, while load never stops.
//
// gobreaker keeps real time, so this test uses a 30 ms Timeout and a
// polling deadline.
func TestBreakerRecoversUnderContinuousLoad(t *testing.T) {
	ev := newEvents()
	eps := lbtest.Addrs(2)
	b := newBalancer(t, eps, &lb.Options{OnEvent: ev.on, Breaker: &lb.BreakerOptions{
		Timeout:     30 * time.Millisecond,
		ReadyToTrip: func(c resilience.Counts) bool { return c.ConsecutiveFailures >= 3 },
	}})
	bad, _ := b.Backend(eps[0].Addr)
	var broken atomic.Bool
	broken.Store(true)
	var badPicks atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var errs atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := b.Pick(lb.PickInfo{})
				if err != nil {
					errs.Add(1)
					continue
				}
				var e error
				if r.Backend == bad {
					badPicks.Add(1)
					if broken.Load() {
						e = errBoom
					}
				}
				r.Done(lb.DoneInfo{Err: e})
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for bad.BreakerState() != want {
			if time.Now().After(deadline) {
				t.Fatalf("breaker state %s, want %s", bad.BreakerState(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitState("open")
	// While open and failing, the endpoint only sees trial calls.
	before := badPicks.Load()
	time.Sleep(100 * time.Millisecond)
	if trials := badPicks.Load() - before; trials > 10 {
		t.Fatalf("open breaker let %d calls through in 100ms (3 timeouts), want only trial calls", trials)
	}
	broken.Store(false)
	waitState("closed")
	before = badPicks.Load()
	deadline := time.Now().Add(10 * time.Second)
	for badPicks.Load()-before < 100 {
		if time.Now().After(deadline) {
			t.Fatal("recovered endpoint gets no calls")
		}
		time.Sleep(time.Millisecond)
	}
	if errs.Load() != 0 {
		t.Fatalf("%d picks failed although the other endpoint was fine", errs.Load())
	}
}

func TestBreakerAllOpenGivesErrNoEndpoint(t *testing.T) {
	eps := lbtest.Addrs(2)
	b := newBalancer(t, eps, &lb.Options{Breaker: &lb.BreakerOptions{Timeout: time.Hour,
		ReadyToTrip: func(c resilience.Counts) bool { return c.ConsecutiveFailures >= 1 }}})
	for range 2 {
		pickDone(t, b, lb.PickInfo{}, errBoom)
	}
	for _, be := range b.Backends() {
		if be.BreakerState() != "open" {
			t.Fatalf("%s breaker %s", be.Addr(), be.BreakerState())
		}
	}
	for range 10 {
		if _, err := b.Pick(lb.PickInfo{}); err != lb.ErrNoEndpoint {
			t.Fatalf("pick with every breaker open: %v", err)
		}
	}
	// The rejections did not count: each breaker saw exactly one call.
	for _, be := range b.Backends() {
		if c := be.BreakerCounts(); c.Requests != 0 && c.Requests != 1 {
			t.Fatalf("%s counts %+v after rejections", be.Addr(), c)
		}
	}
}

// TestBreakerIgnoresCancelledCalls (issue 10 item 11): a cancelled call is
// neither a success nor a failure. It must not reset the failure streak,
// and a cancelled half-open probe must not close the breaker (nor block the
// next probe).
func TestBreakerIgnoresCancelledCalls(t *testing.T) {
	eps := lbtest.Addrs(1)
	b := newBalancer(t, eps, &lb.Options{Breaker: &lb.BreakerOptions{Timeout: 20 * time.Millisecond,
		ReadyToTrip: func(c resilience.Counts) bool { return c.ConsecutiveFailures >= 3 }}})
	be := b.Backends()[0]
	boom := errors.New("boom")
	for _, err := range []error{boom, boom, context.Canceled, boom} {
		pickDone(t, b, lb.PickInfo{}, err)
	}
	if be.BreakerState() != "open" {
		t.Fatalf("fail, fail, cancel, fail: breaker %s, want open (a cancellation reset the streak)", be.BreakerState())
	}
	deadline := time.Now().Add(5 * time.Second)
	for be.BreakerState() != "half-open" {
		if time.Now().After(deadline) {
			t.Fatal("breaker never half-open")
		}
		time.Sleep(time.Millisecond) // gobreaker keeps real time: poll
	}
	pickDone(t, b, lb.PickInfo{}, context.Canceled) // the probe is cancelled
	if st := be.BreakerState(); st != "half-open" {
		t.Fatalf("after a cancelled probe: %s, want half-open", st)
	}
	pickDone(t, b, lb.PickInfo{}, boom) // a real probe still gets through and decides
	if st := be.BreakerState(); st != "open" {
		t.Fatalf("after a failed probe: %s, want open", st)
	}
}
