package httpx

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
)

func clientHedge(t testing.TB, next http.RoundTripper, o *HedgeOptions) http.RoundTripper {
	t.Helper()
	rt, err := HedgeTransport(next, o)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// clientWithin fails the test if ch does not deliver within 10s: a guard
// against hangs, not a wait for a condition.
func clientWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestHedgeSecondSendWinsAndFirstIsCancelled(t *testing.T) {
	var n atomic.Int32
	firstGone, firstIn := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			close(firstIn)
			<-r.Context().Done() // the slow first send, until the client cancels it
			close(firstGone)
			return
		}
		_, _ = io.WriteString(w, "hedge")
	}))
	defer srv.Close()
	fake := clock.NewFake(time.Time{})
	mp, collect := clientMetrics(t)
	rt := clientHedge(t, nil, &HedgeOptions{Delay: 50 * time.Millisecond, Clock: fake, MeterProvider: mp})
	type result struct {
		code int
		body string
		err  error
	}
	out := make(chan result, 1)
	go func() {
		c, b, err := clientGet(context.Background(), t, rt, srv.URL)
		out <- result{c, b, err}
	}()
	clientWithin(t, firstIn, "the first send")
	clientWaitParked(t, fake)
	fake.Advance(49 * time.Millisecond)
	if n.Load() != 1 {
		t.Fatalf("hedge sent before Delay: %d sends", n.Load())
	}
	fake.Advance(time.Millisecond)
	r := clientWithin(t, out, "the hedged answer")
	if r.err != nil || r.code != 200 || r.body != "hedge" {
		t.Fatalf("got %+v, want the hedge's 200", r)
	}
	clientWithin(t, firstGone, "the losing send to be cancelled")
	m := collect("scalekit.httpx.client.hedges", "scalekit.httpx.outcome")
	if m["sent"] != 1 || m["won"] != 1 {
		t.Fatalf("hedge metrics %v", m)
	}
}

func TestHedgeLoserResponseIsClosed(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	gate := make(chan struct{})
	loserClosed := make(chan struct{})
	var sends atomic.Int32
	next := clientRTFunc(func(r *http.Request) (*http.Response, error) {
		if sends.Add(1) == 1 {
			<-gate // ignores cancellation and answers late
			return &http.Response{StatusCode: 200, Body: &clientSignalBody{Reader: strings.NewReader("late"), closed: loserClosed}}, nil
		}
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("fast"))}, nil
	})
	rt := clientHedge(t, next, &HedgeOptions{Delay: time.Second, Clock: fake})
	out := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://backend.test/", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			out <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		out <- string(b)
	}()
	clientWaitParked(t, fake)
	fake.Advance(time.Second)
	if got := clientWithin(t, out, "the answer"); got != "fast" {
		t.Fatalf("got %q, want the hedge's answer", got)
	}
	close(gate)
	clientWithin(t, loserClosed, "the loser's body to be closed")
}

type clientSignalBody struct {
	io.Reader
	closed chan struct{}
}

func (b *clientSignalBody) Close() error { close(b.closed); return nil }

func TestHedgeNotSentWhenFastOrNotRepeatable(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	srv := clientNewScript(t)
	rt := clientHedge(t, nil, &HedgeOptions{Delay: time.Second, Clock: fake})
	if code, _, err := clientGet(context.Background(), t, rt, srv.URL()); err != nil || code != 200 {
		t.Fatal(code, err)
	}
	if srv.hits.Load() != 1 || fake.Waiters() != 0 {
		t.Fatalf("fast answer: %d sends, %d timers left", srv.hits.Load(), fake.Waiters())
	}

	// A POST without an idempotency key is never hedged: no timer is even set.
	arrived, release := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer slow.Close()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, slow.URL, strings.NewReader("x"))
		resp, err := rt.RoundTrip(req)
		if err == nil {
			clientDiscard(resp)
		}
		done <- err
	}()
	clientWithin(t, arrived, "the POST")
	if w := fake.Waiters(); w != 0 {
		t.Fatalf("%d timers for a non-idempotent POST", w)
	}
	close(release)
	if err := clientWithin(t, done, "the POST answer"); err != nil {
		t.Fatal(err)
	}
}

func TestHedgeBudgetCapsExtraLoad(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	var sends atomic.Int64
	// The first send of every request answers only when the test releases
	// it (or the hedge wins and cancels it); a hedge answers at once.
	next := clientRTFunc(func(r *http.Request) (*http.Response, error) {
		sends.Add(1)
		rq := r.Context().Value(clientSendsKey{}).(*clientHedgeReq)
		if rq.sends.Add(1) == 1 {
			select {
			case <-rq.release:
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	budget, _ := NewRetryBudget(&RetryBudgetOptions{Ratio: 0.1, NoMinimum: true, Burst: 1, Clock: fake})
	mp, collect := clientMetrics(t)
	rt := clientHedge(t, next, &HedgeOptions{Delay: 10 * time.Millisecond, Budget: budget, Clock: fake, MeterProvider: mp})
	const n = 50
	for i := 0; i < n; i++ {
		rq := &clientHedgeReq{release: make(chan struct{})}
		ctx := context.WithValue(context.Background(), clientSendsKey{}, rq)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://backend.test/", nil)
		refusedBefore := collect("scalekit.httpx.client.hedges", "scalekit.httpx.outcome")["budget_exhausted"]
		done := make(chan error, 1)
		go func() {
			resp, err := rt.RoundTrip(req)
			if err == nil {
				clientDiscard(resp)
			}
			done <- err
		}()
		// The hedge timer is armed; fire it, then wait for the decision:
		// either the hedge answered (RoundTrip returns) or the budget
		// refused it (counted), in which case release the first send.
		bctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := fake.BlockUntil(bctx, 1); err != nil {
			cancel()
			t.Fatalf("request %d: hedge timer never armed", i)
		}
		cancel()
		fake.Advance(10 * time.Millisecond)
		deadline := time.Now().Add(10 * time.Second)
	decided:
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				break decided
			default:
			}
			if collect("scalekit.httpx.client.hedges", "scalekit.httpx.outcome")["budget_exhausted"] > refusedBefore {
				close(rq.release)
				if err := clientWithin(t, done, "the released first send"); err != nil {
					t.Fatal(err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("request %d: no hedge decision", i)
			}
			time.Sleep(100 * time.Microsecond) // polling a deadline, not waiting for time to pass
		}
	}
	// Burst 1 + 10% of 50 = 6 hedges at most; every other request reached
	// the hedge decision and was refused by the budget.
	m := collect("scalekit.httpx.client.hedges", "scalekit.httpx.outcome")
	if extra := sends.Load() - n; extra > 6 || extra < 1 || extra != m["sent"] || extra+m["budget_exhausted"] != n {
		t.Fatalf("hedges = %d, metrics %v; want ≤ 6 sent and the rest (of %d) refused", extra, m, n)
	}
}

// clientHedgeReq is the per-request state of TestHedgeBudgetCapsExtraLoad.
type clientHedgeReq struct {
	sends   atomic.Int32
	release chan struct{}
}

// clientSendsKey holds a *clientHedgeReq in test requests.
type clientSendsKey struct{}

func TestHedgeAllSendsFail(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	var sends atomic.Int32
	gate, firstIn, hedgeIn := make(chan struct{}), make(chan struct{}), make(chan struct{})
	next := clientRTFunc(func(r *http.Request) (*http.Response, error) {
		if sends.Add(1) == 1 {
			close(firstIn)
			<-gate
			return nil, errors.New("first failed")
		}
		defer close(hedgeIn)
		return nil, &net.OpError{Op: "dial", Err: errors.New("refused")}
	})
	rt := clientHedge(t, next, &HedgeOptions{Delay: time.Second, Clock: fake})
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://backend.test/", nil)
		_, err := rt.RoundTrip(req)
		errc <- err
	}()
	clientWithin(t, firstIn, "the first send")
	clientWaitParked(t, fake)
	fake.Advance(time.Second)
	clientWithin(t, hedgeIn, "the hedge")
	// The hedge failed at once but the first send is still in flight: no
	// answer yet.
	select {
	case err := <-errc:
		t.Fatalf("returned %v while a send was in flight", err)
	default:
	}
	close(gate)
	// Either error may be the last to arrive.
	if err := clientWithin(t, errc, "the error"); err == nil || (err.Error() != "first failed" && err.Error() != "dial: refused") {
		t.Fatalf("err = %v, want one of the send errors", err)
	}
}

func TestHedgeBadOptions(t *testing.T) {
	for name, o := range map[string]*HedgeOptions{
		"negative delay":  {Delay: -1},
		"negative hedges": {MaxHedges: -1},
	} {
		if _, err := HedgeTransport(nil, o); !errors.Is(err, ErrInvalidClientOption) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
