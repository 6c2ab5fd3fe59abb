package lb_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// events collects a Balancer's events for tests.
type events struct {
	mu  sync.Mutex
	all []lb.Event
	ch  chan lb.Event
}

func newEvents() *events { return &events{ch: make(chan lb.Event, 1024)} }

func (e *events) on(ev lb.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	e.ch <- ev
}

// wait returns the next event of kind k for addr, failing after 5 s.
func (e *events) wait(t *testing.T, k lb.EventKind, addr string) lb.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == k && (addr == "" || ev.Addr == addr) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event for %s", k, addr)
		}
	}
}

func newBalancer(t *testing.T, eps []lb.Endpoint, o *lb.Options) *lb.Balancer {
	t.Helper()
	b, err := lb.New(eps, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func pickDone(t testing.TB, b *lb.Balancer, info lb.PickInfo, err error) *lb.Backend {
	t.Helper()
	r, perr := b.Pick(info)
	if perr != nil {
		t.Fatalf("pick: %v", perr)
	}
	r.Done(lb.DoneInfo{Err: err})
	return r.Backend
}

func TestNewRejectsBadInput(t *testing.T) {
	for name, c := range map[string]struct {
		eps []lb.Endpoint
		o   *lb.Options
	}{
		"empty addr":      {[]lb.Endpoint{{Addr: ""}}, nil},
		"negative weight": {[]lb.Endpoint{{Addr: "a:1", Weight: -1}}, nil},
		"negative drain":  {nil, &lb.Options{DrainTimeout: -1}},
		"bad outlier":     {nil, &lb.Options{Outlier: &lb.OutlierOptions{FailureRate: 2}}},
		"bad health":      {nil, &lb.Options{HealthCheck: &lb.HealthCheck{Interval: -1}}},
	} {
		if _, err := lb.New(c.eps, c.o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	b := newBalancer(t, nil, nil)
	if err := b.SetEndpoints([]lb.Endpoint{{Addr: "x:1", Weight: -2}}); !errors.Is(err, lb.ErrBadEndpoint) {
		t.Errorf("SetEndpoints bad weight: %v, want ErrBadEndpoint", err)
	}
}

func TestPickEmptyAndClosed(t *testing.T) {
	b := newBalancer(t, nil, nil)
	if _, err := b.Pick(lb.PickInfo{}); !errors.Is(err, lb.ErrNoEndpoint) {
		t.Fatalf("empty: %v", err)
	}
	_ = b.SetEndpoints(lbtest.Addrs(1))
	_ = b.Close()
	if _, err := b.Pick(lb.PickInfo{}); !errors.Is(err, lb.ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
	if err := b.SetEndpoints(lbtest.Addrs(1)); !errors.Is(err, lb.ErrClosed) {
		t.Fatalf("SetEndpoints after Close: %v", err)
	}
}

func TestPickAvoidsTriedEndpoints(t *testing.T) {
	eps := lbtest.Addrs(3)
	b := newBalancer(t, eps, nil)
	r1, _ := b.Pick(lb.PickInfo{})
	r2, _ := b.Pick(lb.PickInfo{Avoid: []*lb.Backend{r1.Backend}})
	r3, _ := b.Pick(lb.PickInfo{Avoid: []*lb.Backend{r1.Backend, r2.Backend}})
	if r1.Backend == r2.Backend || r3.Backend == r1.Backend || r3.Backend == r2.Backend {
		t.Fatalf("avoid ignored: %s %s %s", r1.Backend.Addr(), r2.Backend.Addr(), r3.Backend.Addr())
	}
	// Everything avoided: a retry still gets an endpoint.
	r4, err := b.Pick(lb.PickInfo{Avoid: []*lb.Backend{r1.Backend, r2.Backend, r3.Backend}})
	if err != nil || r4.Backend == nil {
		t.Fatalf("all avoided: %v", err)
	}
	for _, r := range []lb.Result{r1, r2, r3, r4} {
		r.Done(lb.DoneInfo{})
	}
}

func TestStickySessionWithFallback(t *testing.T) {
	eps := lbtest.Addrs(4)
	b := newBalancer(t, eps, &lb.Options{Policy: lb.RoundRobin()})
	sc := &lb.StickyCookie{Name: "srv", MaxAge: time.Hour}
	first := pickDone(t, b, lb.PickInfo{}, nil)
	h := http.Header{}
	sc.Set(h, "", first)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Cookie", (&http.Response{Header: h}).Cookies()[0].String())
	id := sc.ID(req)
	if id != first.ID() || id == first.Addr() {
		t.Fatalf("cookie value %q, want the opaque ID %q", id, first.ID())
	}
	for range 20 {
		if got := pickDone(t, b, lb.PickInfo{Sticky: id}, nil); got != first {
			t.Fatalf("sticky pick went to %s, want %s", got.Addr(), first.Addr())
		}
	}
	// The endpoint leaves: the session falls back and can be re-pinned.
	var rest []lb.Endpoint
	for _, e := range eps {
		if e.Addr != first.Addr() {
			rest = append(rest, e)
		}
	}
	if err := b.SetEndpoints(rest); err != nil {
		t.Fatal(err)
	}
	next := pickDone(t, b, lb.PickInfo{Sticky: id}, nil)
	if next == first {
		t.Fatal("sticky pick still went to the removed endpoint")
	}
	h = http.Header{}
	sc.Set(h, id, next)
	if c := (&http.Response{Header: h}).Cookies(); len(c) != 1 || c[0].Value != next.ID() || c[0].MaxAge != 3600 || !c[0].HttpOnly {
		t.Fatalf("re-pin cookie = %v", h)
	}
	h = http.Header{}
	sc.Set(h, next.ID(), next)
	if len(h) != 0 {
		t.Fatalf("cookie rewritten although unchanged: %v", h)
	}
}

func TestSlowStartRampsWeight(t *testing.T) {
	clk := clock.NewFake(t0)
	eps := lbtest.Addrs(2)
	b := newBalancer(t, eps[:1], &lb.Options{Policy: lb.WeightedRoundRobin(), SlowStart: 100 * time.Second,
		SlowStartMin: 0.1, Clock: clk})
	if err := b.SetEndpoints(eps); err != nil {
		t.Fatal(err)
	}
	share := func() float64 {
		n := 0
		for range 1100 {
			if pickDone(t, b, lb.PickInfo{}, nil).Addr() == eps[1].Addr {
				n++
			}
		}
		return float64(n) / 1100
	}
	// weight 0.1 vs 1 → 1/11 of picks; at half time 0.55 vs 1; at the end 1:1.
	steps := []struct {
		at   time.Duration
		want float64
	}{{0, 0.1 / 1.1}, {50 * time.Second, 0.55 / 1.55}, {100 * time.Second, 0.5}, {200 * time.Second, 0.5}}
	for _, s := range steps {
		clk.Set(t0.Add(s.at))
		// The ramp rebuilds the snapshot from a timer goroutine: poll until
		// the new weights are in (bounded).
		deadline := time.Now().Add(5 * time.Second)
		got := share()
		for absf(got-s.want) > 0.02 && time.Now().Before(deadline) {
			runtime.Gosched()
			got = share()
		}
		if absf(got-s.want) > 0.02 {
			t.Fatalf("at %v new endpoint share %.3f, want %.3f", s.at, got, s.want)
		}
	}
	if w := clk.Waiters(); w != 0 {
		t.Errorf("%d timers still pending after the ramp ended", w)
	}
}

func absf(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestDrainingWaitsForInFlightThenDeadline(t *testing.T) {
	clk := clock.NewFake(t0)
	ev := newEvents()
	eps := lbtest.Addrs(2)
	b := newBalancer(t, eps, &lb.Options{Clock: clk, DrainTimeout: time.Minute, OnEvent: ev.on})
	gone, _ := b.Backend(eps[0].Addr)
	var held []lb.Result
	for len(held) < 2 {
		r, _ := b.Pick(lb.PickInfo{})
		if r.Backend == gone {
			held = append(held, r)
		} else {
			r.Done(lb.DoneInfo{})
		}
	}
	if err := b.SetEndpoints(eps[1:]); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, lb.EventDraining, gone.Addr())
	for range 50 {
		if pickDone(t, b, lb.PickInfo{}, nil) == gone {
			t.Fatal("draining endpoint got a new pick")
		}
	}
	held[0].Done(lb.DoneInfo{})
	select {
	case <-gone.Closed():
		t.Fatal("closed with a call still in flight")
	default:
	}
	held[1].Done(lb.DoneInfo{})
	<-gone.Closed() // the last call finished: closed at once
	ev.wait(t, lb.EventRemoved, gone.Addr())

	// A stuck call: closed when the deadline passes.
	r, _ := b.Pick(lb.PickInfo{})
	stuck := r.Backend
	if err := b.SetEndpoints(eps[:1]); err != nil {
		t.Fatal(err)
	}
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	<-stuck.Closed()
	r.Done(lb.DoneInfo{}) // late Done is harmless
	if st := b.State(stuck); !st.Draining || !st.Closed {
		t.Fatalf("state after drain = %+v", st)
	}
}

func TestSetEndpointsKeepsStateAndWeightChange(t *testing.T) {
	eps := lbtest.Addrs(3)
	b := newBalancer(t, eps, nil)
	before, _ := b.Backend(eps[1].Addr)
	pickDone(t, b, lb.PickInfo{}, nil)
	_ = b.SetEndpoints(append(eps, eps[0])) // duplicate merged
	if after, _ := b.Backend(eps[1].Addr); after != before {
		t.Fatal("re-listed endpoint lost its state")
	}
	if n := len(b.Backends()); n != 3 {
		t.Fatalf("%d backends after duplicate, want 3", n)
	}
	eps[1].Weight = 5
	_ = b.SetEndpoints(eps)
	if after, _ := b.Backend(eps[1].Addr); after == before || after.Weight() != 5 {
		t.Fatal("weight change did not replace the endpoint")
	}
}

func TestOpenWithResolver(t *testing.T) {
	ctx := context.Background()
	updates := make(chan []lb.Endpoint, 1)
	r := lb.ResolverFunc(func(ctx context.Context, update func([]lb.Endpoint)) error {
		for {
			select {
			case eps := <-updates:
				update(eps)
			case <-ctx.Done():
				return nil
			}
		}
	})
	updates <- lbtest.Addrs(2)
	ev := newEvents()
	b, err := lb.Open(ctx, r, &lb.Options{OnEvent: ev.on})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if n := len(b.Backends()); n != 2 {
		t.Fatalf("%d backends, want 2", n)
	}
	updates <- lbtest.Addrs(3)
	ev.wait(t, lb.EventAdded, lbtest.Addrs(3)[2].Addr)
	if n := len(b.Backends()); n != 3 {
		t.Fatalf("%d backends after update, want 3", n)
	}

	// A resolver that fails, and one that never answers.
	failing := lb.ResolverFunc(func(context.Context, func([]lb.Endpoint)) error { return errors.New("registry down") })
	if _, err := lb.Open(ctx, failing, nil); err == nil {
		t.Fatal("Open with a failing resolver succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	silent := lb.ResolverFunc(func(ctx context.Context, _ func([]lb.Endpoint)) error { <-ctx.Done(); return nil })
	if _, err := lb.Open(cctx, silent, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with cancelled ctx: %v", err)
	}
	sb, err := lb.Open(ctx, lb.Static(lbtest.Addrs(4)...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sb.Backends()); n != 4 {
		t.Fatalf("static: %d backends", n)
	}
	_ = sb.Close()
}

func TestConcurrentPickAndUpdate(t *testing.T) {
	eps := lbtest.Addrs(20)
	b := newBalancer(t, eps, &lb.Options{Policy: lb.LeastConn(nil), Outlier: &lb.OutlierOptions{}})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				r, err := b.Pick(lb.PickInfo{})
				if err != nil {
					t.Error(err)
					return
				}
				var e error
				if i%50 == g {
					e = fmt.Errorf("boom")
				}
				r.Done(lb.DoneInfo{Err: e})
			}
		}()
	}
	for i := range 50 {
		_ = b.SetEndpoints(eps[i%5 : 15+i%5])
	}
	wg.Wait()
	for _, be := range b.Backends() {
		if be.InFlight() != 0 {
			t.Errorf("%s in flight %d after all Done", be.Addr(), be.InFlight())
		}
	}
}

func TestOpenRestartsFailedResolver(t *testing.T) {
	clk := clock.NewFake(t0)
	ev := newEvents()
	var calls atomic.Int32
	r := lb.ResolverFunc(func(ctx context.Context, update func([]lb.Endpoint)) error {
		switch calls.Add(1) {
		case 1:
			update(lbtest.Addrs(2))
			update([]lb.Endpoint{{Addr: ""}}) // a bad set is reported and skipped
			return errors.New("registry connection lost")
		default:
			update(lbtest.Addrs(3))
			<-ctx.Done()
			return nil
		}
	})
	b, err := lb.Open(context.Background(), r, &lb.Options{Clock: clk, OnEvent: ev.on})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if e := ev.wait(t, lb.EventResolverError, ""); !strings.Contains(e.Detail, "bad endpoint") {
		t.Fatalf("first resolver error %q, want the bad endpoint", e.Detail)
	}
	if e := ev.wait(t, lb.EventResolverError, ""); e.Detail != "registry connection lost" {
		t.Fatalf("resolver error %q", e.Detail)
	}
	if n := len(b.Backends()); n != 2 {
		t.Fatalf("%d endpoints while the resolver is down, want the last 2", n)
	}
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second) // past any backoff delay
	ev.wait(t, lb.EventAdded, lbtest.Addrs(3)[2].Addr)
	if n := len(b.Backends()); n != 3 {
		t.Fatalf("%d endpoints after the restart, want 3", n)
	}
}
