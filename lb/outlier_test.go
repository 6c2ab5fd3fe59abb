package lb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
)

var errBoom = errors.New("boom")

// failOn sends n calls, failing those that land on bad.
func failOn(t *testing.T, b *lb.Balancer, bad string, n int) {
	t.Helper()
	for range n {
		r, err := b.Pick(lb.PickInfo{})
		if err != nil {
			t.Fatal(err)
		}
		var e error
		if r.Backend.Addr() == bad {
			e = errBoom
		}
		r.Done(lb.DoneInfo{Err: e})
	}
}

func picksOf(t *testing.T, b *lb.Balancer, addr string, n int) int {
	t.Helper()
	c := 0
	for range n {
		if pickDone(t, b, lb.PickInfo{}, nil).Addr() == addr {
			c++
		}
	}
	return c
}

func TestOutlierEjectionGrowsAndRecovers(t *testing.T) {
	clk := clock.NewFake(t0)
	ev := newEvents()
	eps := lbtest.Addrs(4)
	bad := eps[0].Addr
	b := newBalancer(t, eps, &lb.Options{Clock: clk, OnEvent: ev.on, Outlier: &lb.OutlierOptions{
		ConsecutiveFailures: 3, BaseEjection: 10 * time.Second, MaxEjection: 25 * time.Second, HalfOpenSuccesses: 2}})
	be, _ := b.Backend(bad)

	// Round robin: 12 calls put 3 failures in a row on bad.
	failOn(t, b, bad, 12)
	e := ev.wait(t, lb.EventEjected, bad)
	if e.Period != 10*time.Second || e.Detail != "consecutive failures" {
		t.Fatalf("first ejection %+v, want 10s for consecutive failures", e)
	}
	if n := picksOf(t, b, bad, 40); n != 0 {
		t.Fatalf("ejected endpoint got %d picks", n)
	}
	if be.Ejections() != 1 || !b.State(be).Ejected {
		t.Fatalf("ejections=%d state=%+v", be.Ejections(), b.State(be))
	}

	// Half-open after the period; a failure there ejects it for 2×.
	clk.Advance(10 * time.Second)
	ev.wait(t, lb.EventHalfOpen, bad)
	if !b.State(be).HalfOpen {
		t.Fatal("not half-open after the ejection period")
	}
	failOn(t, b, bad, 4)
	if e := ev.wait(t, lb.EventEjected, bad); e.Period != 20*time.Second {
		t.Fatalf("second ejection period %v, want 20s", e.Period)
	}
	clk.Advance(20 * time.Second)
	ev.wait(t, lb.EventHalfOpen, bad)
	failOn(t, b, bad, 4)
	if e := ev.wait(t, lb.EventEjected, bad); e.Period != 25*time.Second {
		t.Fatalf("third ejection period %v, want the 25s cap", e.Period)
	}

	// It heals: two successes while half-open bring it fully back.
	clk.Advance(25 * time.Second)
	ev.wait(t, lb.EventHalfOpen, bad)
	if n := picksOf(t, b, bad, 8); n != 2 {
		t.Fatalf("half-open endpoint got %d of 8 round-robin picks, want 2", n)
	}
	ev.wait(t, lb.EventRecovered, bad)
	if st := b.State(be); st.Ejected || st.HalfOpen {
		t.Fatalf("state after recovery %+v", st)
	}
	// Healthy for MaxEjection: the next ejection starts over at the base.
	clk.Advance(25 * time.Second)
	failOn(t, b, bad, 12)
	if e := ev.wait(t, lb.EventEjected, bad); e.Period != 10*time.Second {
		t.Fatalf("ejection after a long healthy spell lasted %v, want the base 10s", e.Period)
	}
}

func TestOutlierFailureRate(t *testing.T) {
	clk := clock.NewFake(t0)
	ev := newEvents()
	eps := lbtest.Addrs(2)
	b := newBalancer(t, eps, &lb.Options{Clock: clk, OnEvent: ev.on, Outlier: &lb.OutlierOptions{
		ConsecutiveFailures: -1, FailureRate: 0.4, MinRequests: 10, Window: time.Minute}})
	be, _ := b.Backend(eps[0].Addr)
	// 1 failure in 4 calls (25 %) stays in; later 1 in 2 ejects.
	for i := range 40 {
		r, _ := b.Pick(lb.PickInfo{Avoid: []*lb.Backend{otherThan(b, be)}})
		var e error
		if i%4 == 0 {
			e = errBoom
		}
		r.Done(lb.DoneInfo{Err: e})
		// Keep windows short: a new window every 20 calls.
		if i == 19 {
			clk.Advance(time.Minute)
		}
	}
	if b.State(be).Ejected {
		t.Fatal("ejected at a 25% failure rate with a 40% threshold")
	}
	clk.Advance(time.Minute)
	for i := range 12 {
		r, _ := b.Pick(lb.PickInfo{Avoid: []*lb.Backend{otherThan(b, be)}})
		var e error
		if i%2 == 0 {
			e = errBoom
		}
		r.Done(lb.DoneInfo{Err: e})
	}
	if e := ev.wait(t, lb.EventEjected, be.Addr()); e.Detail != "failure rate" {
		t.Fatalf("ejected for %q", e.Detail)
	}
}

func otherThan(b *lb.Balancer, be *lb.Backend) *lb.Backend {
	for _, x := range b.Backends() {
		if x != be {
			return x
		}
	}
	return nil
}

func TestOutlierMaxEjectedShareAndCancelledCalls(t *testing.T) {
	clk := clock.NewFake(t0)
	ev := newEvents()
	eps := lbtest.Addrs(4)
	b := newBalancer(t, eps, &lb.Options{Clock: clk, OnEvent: ev.on, Outlier: &lb.OutlierOptions{
		ConsecutiveFailures: 2, MaxEjectedShare: 0.25}})
	// Cancelled calls are not failures.
	for range 20 {
		pickDone(t, b, lb.PickInfo{}, context.Canceled)
	}
	for _, be := range b.Backends() {
		if be.Ejections() != 0 {
			t.Fatalf("%s ejected for cancelled calls", be.Addr())
		}
	}
	// Everything fails: only one of four (25 %) may be out at once.
	for range 16 {
		pickDone(t, b, lb.PickInfo{}, errBoom)
	}
	ev.wait(t, lb.EventEjected, "")
	ev.wait(t, lb.EventEjectionSkipped, "")
	out := 0
	for _, e := range eps {
		be, _ := b.Backend(e.Addr)
		if b.State(be).Ejected {
			out++
		}
	}
	if out != 1 {
		t.Fatalf("%d endpoints ejected, cap is 1", out)
	}
	if n := len(b.Backends()); n != 3 {
		t.Fatalf("%d endpoints in rotation, want 3", n)
	}
}

func TestHealthCheckRiseFall(t *testing.T) {
	clk := clock.NewFake(t0)
	ev := newEvents()
	eps := lbtest.Addrs(2)
	down := make(chan bool, 1)
	down <- false
	probed := make(chan string, 16)
	isDown := false
	hc := &lb.HealthCheck{Interval: 5 * time.Second, Rise: 2, Fall: 2,
		Probe: func(ctx context.Context, addr string) error {
			defer func() { probed <- addr }()
			if addr != eps[0].Addr {
				return nil
			}
			select {
			case isDown = <-down:
			default:
			}
			if isDown {
				return errors.New("refused")
			}
			return nil
		}}
	b := newBalancer(t, eps, &lb.Options{Clock: clk, OnEvent: ev.on, HealthCheck: hc})
	be, _ := b.Backend(eps[0].Addr)
	round := func() { // one probe of each endpoint, both parked again
		t.Helper()
		if err := clk.BlockUntil(context.Background(), 2); err != nil {
			t.Fatal(err)
		}
		clk.Advance(5 * time.Second)
		<-probed
		<-probed
	}
	<-probed
	<-probed // the probes at start
	down <- true
	round()
	if !b.State(be).Healthy {
		t.Fatal("unhealthy after one failed probe, Fall is 2")
	}
	round()
	ev.wait(t, lb.EventUnhealthy, be.Addr())
	if n := picksOf(t, b, be.Addr(), 20); n != 0 {
		t.Fatalf("unhealthy endpoint got %d picks", n)
	}
	down <- false
	round()
	if b.State(be).Healthy {
		t.Fatal("healthy after one passing probe, Rise is 2")
	}
	round()
	ev.wait(t, lb.EventHealthy, be.Addr())
	if n := picksOf(t, b, be.Addr(), 20); n != 10 {
		t.Fatalf("recovered endpoint got %d of 20 round-robin picks", n)
	}
}

func TestHealthCheckHTTPAndTCP(t *testing.T) {
	srv := lbtest.NewServer(t, "a")
	hc := &lb.HealthCheck{Path: "/healthz", Timeout: time.Second}
	ctx := context.Background()
	if err := lb.ProbeForTest(hc, ctx, srv.Addr()); err != nil {
		t.Fatalf("HTTP probe of a healthy server: %v", err)
	}
	srv.SetHealthy(false)
	if err := lb.ProbeForTest(hc, ctx, srv.Addr()); err == nil {
		t.Fatal("HTTP probe accepted a 503")
	}
	// A probe that hangs fails at Timeout.
	srv.SetHealthy(true)
	srv.SetDelay(10 * time.Second)
	slow := &lb.HealthCheck{Path: "/slow", Timeout: 50 * time.Millisecond}
	start := time.Now()
	if err := lb.ProbeForTest(slow, ctx, srv.Addr()); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("hanging probe: err %v after %v", err, time.Since(start))
	}
	tcp := &lb.HealthCheck{Timeout: time.Second}
	if err := lb.ProbeForTest(tcp, ctx, srv.Addr()); err != nil {
		t.Fatalf("TCP probe of a listening server: %v", err)
	}
	srv.Kill()
	if err := lb.ProbeForTest(tcp, ctx, srv.Addr()); err == nil {
		t.Fatal("TCP probe of a killed server passed")
	}
}

func TestPanicModeWhenNothingIsHealthy(t *testing.T) {
	clk := clock.NewFake(t0)
	ev := newEvents()
	eps := lbtest.Addrs(2)
	hc := &lb.HealthCheck{Fall: 1, Probe: func(context.Context, string) error { return errors.New("down") }}
	b := newBalancer(t, eps, &lb.Options{Clock: clk, OnEvent: ev.on, HealthCheck: hc})
	ev.wait(t, lb.EventUnhealthy, "")
	ev.wait(t, lb.EventUnhealthy, "")
	if n := len(b.Backends()); n != 2 {
		t.Fatalf("%d endpoints in rotation with all unhealthy, want all 2 (panic mode)", n)
	}
}
