package httpx

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
)

func clientTimeoutRT(t testing.TB, next http.RoundTripper, d time.Duration, clk clock.Clock) http.RoundTripper {
	t.Helper()
	rt, err := ClientTimeout(next, d, &ClientTimeoutOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// clientHangRT blocks until the request context ends.
var clientHangRT = clientRTFunc(func(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
})

func TestClientTimeoutFires(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	rt := clientTimeoutRT(t, clientHangRT, time.Second, fake)
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://backend.test/", nil)
		_, err := rt.RoundTrip(req)
		errc <- err
	}()
	clientWaitParked(t, fake)
	fake.Advance(999 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("returned %v before the limit", err)
	default:
	}
	fake.Advance(time.Millisecond)
	err := clientWithin(t, errc, "the timeout")
	var te *ClientTimeoutError
	var ne net.Error
	if !errors.As(err, &te) || te.Limit != time.Second || !errors.Is(err, context.DeadlineExceeded) ||
		!errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a *ClientTimeoutError (DeadlineExceeded, Timeout())", err)
	}
	if !clientRetryableError(err) {
		t.Fatal("an attempt timeout must be retryable")
	}
}

func TestClientTimeoutCoversBodyAndIsReleasedOnClose(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	next := clientRTFunc(func(r *http.Request) (*http.Response, error) {
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte("head"))
			<-r.Context().Done() // the rest of the body never comes
			pw.CloseWithError(r.Context().Err())
		}()
		return &http.Response{StatusCode: 200, Body: pr}, nil
	})
	rt := clientTimeoutRT(t, next, time.Second, fake)
	req, _ := http.NewRequest(http.MethodGet, "http://backend.test/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "head" {
		t.Fatalf("read %q %v", buf, err)
	}
	fake.Advance(time.Second)
	if _, err := io.ReadAll(resp.Body); !errors.As(err, new(*ClientTimeoutError)) {
		t.Fatalf("body read after the limit: %v, want *ClientTimeoutError", err)
	}
	_ = resp.Body.Close()

	// A fast answer releases its timer when the body is closed.
	ok := clientRTFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("x"))}, nil
	})
	rt = clientTimeoutRT(t, ok, time.Second, fake)
	resp, err = rt.RoundTrip(req)
	if err != nil || fake.Waiters() != 1 {
		t.Fatalf("err %v waiters %d", err, fake.Waiters())
	}
	_ = resp.Body.Close()
	if w := fake.Waiters(); w != 0 {
		t.Fatalf("%d timers left after Close", w)
	}
}

func TestClientTimeoutKeepsCallerErrors(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	rt := clientTimeoutRT(t, clientHangRT, time.Hour, fake)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://backend.test/", nil)
		_, err := rt.RoundTrip(req)
		errc <- err
	}()
	clientWaitParked(t, fake)
	cancel()
	if err := clientWithin(t, errc, "the error"); !errors.Is(err, context.Canceled) || errors.As(err, new(*ClientTimeoutError)) {
		t.Fatalf("err = %v, want the caller's context.Canceled", err)
	}
}

func TestClientTimeoutRealClockSetsDeadline(t *testing.T) {
	var left time.Duration
	var header string
	next := clientRTFunc(func(r *http.Request) (*http.Response, error) {
		dl, ok := r.Context().Deadline()
		if !ok {
			return nil, errors.New("no deadline")
		}
		left = time.Until(dl)
		header = r.Header.Get("X-Request-Timeout")
		return &http.Response{StatusCode: 204, Body: http.NoBody}, nil
	})
	rt, err := ClientTimeout(next, time.Minute, &ClientTimeoutOptions{DeadlineHeader: "X-Request-Timeout"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://backend.test/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if left <= 0 || left > 10*time.Second {
		t.Fatalf("deadline %v away, want the caller's sooner 10s", left)
	}
	if ms, err := strconv.Atoi(header); err != nil || ms <= 9000 || ms > 10000 {
		t.Fatalf("X-Request-Timeout %q, want about 10000 ms", header)
	}
	if req.Header.Get("X-Request-Timeout") != "" {
		t.Fatal("the caller's request was modified")
	}
	if _, err := ClientTimeout(nil, -1, nil); !errors.Is(err, ErrInvalidClientOption) {
		t.Fatalf("negative timeout: %v", err)
	}
	if rt, _ := ClientTimeout(next, 0, nil); rt == nil {
		t.Fatal("zero timeout must pass through")
	}
	// With no limit of its own, the header still carries the caller's budget.
	rt, _ = ClientTimeout(next, 0, &ClientTimeoutOptions{DeadlineHeader: "X-Request-Timeout"})
	header = ""
	if resp, err = rt.RoundTrip(req); err != nil || header == "" {
		t.Fatalf("header %q err %v", header, err)
	}
	_ = resp.Body.Close()
}

// TestNewTransportDefaultTimeouts (issue 10 item 18): the zero options give
// every attempt a timeout, so a hung call (a half-open breaker's only
// probe among them) ends and the breaker can move on.
func TestNewTransportDefaultTimeouts(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	tr, err := NewTransport(clientHangRT, &TransportOptions{Clock: clk, NoRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://hung.test/", nil)
		_, err := tr.RoundTrip(req)
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Two timers: the call's DefaultTimeout, then the attempt's
	// DefaultAttemptTimeout. Advancing after only the first is armed would
	// leave the attempt's timer 10s in the fake future (failed in CI).
	if err := clk.BlockUntil(ctx, 2); err != nil {
		t.Fatalf("%d timers armed, want the call's and the attempt's: NewTransport lacks a default timeout", clk.Waiters())
	}
	clk.Advance(DefaultAttemptTimeout)
	select {
	case err := <-done:
		var te *ClientTimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("err %v, want a ClientTimeoutError", err)
		}
	case <-ctx.Done():
		t.Fatal("hung call never ended")
	}
	if st := tr.Breaker().State("hung.test"); st.String() != "closed" {
		t.Fatalf("breaker %s", st) // one failure: still closed, but counted
	}
	if c := tr.Breaker().Counts("hung.test"); c.ConsecutiveFailures != 1 {
		t.Fatalf("counts %+v: the timed-out probe was not counted", c)
	}
	// Negative disables, zero is the default.
	if _, err := NewTransport(nil, &TransportOptions{Timeout: -1, AttemptTimeout: -1}); err != nil {
		t.Fatal(err)
	}
}
