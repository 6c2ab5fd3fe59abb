package httpx

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/resilience"
)

// clientLoopback starts a real http.Server on a loopback port.
func clientLoopback(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func clientStack(t testing.TB, next http.RoundTripper, o *TransportOptions) *Transport {
	t.Helper()
	tr, err := NewTransport(next, o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestClientStackEndToEnd drives a real server on loopback through the full
// stack and a real http.Client: an attempt that hangs is cut by the attempt
// timeout, a 503 with Retry-After is waited out, the third attempt answers;
// the breaker saw two failures and a success and stays closed. It runs on
// the real clock (the layers' exact timing is tested with fake clocks in
// their own tests): a fake clock cannot be advanced safely while real
// network I/O races the attempt timers.
func TestClientStackEndToEnd(t *testing.T) {
	var hits atomic.Int32
	var budget atomic.Value
	url := clientLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		budget.Store(r.Header.Get("X-Request-Timeout"))
		switch hits.Add(1) {
		case 1:
			<-r.Context().Done()
		case 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			b, _ := io.ReadAll(r.Body)
			_, _ = io.WriteString(w, "stored "+string(b))
		}
	}))
	mp, collect := clientMetrics(t)
	tr := clientStack(t, nil, &TransportOptions{
		AttemptTimeout: time.Second, // room for a loopback round trip under -race on a loaded machine
		DeadlineHeader: "X-Request-Timeout",
		Retry:          &RetryOptions{MaxAttempts: 4, InitialBackoff: time.Millisecond},
		Breaker:        &BreakerOptions{FailureThreshold: 3},
		MeterProvider:  mp,
	})
	client := &http.Client{Transport: tr}
	defer client.CloseIdleConnections()
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, url+"/items", strings.NewReader("item-1"))
	req.Header.Set("Idempotency-Key", "k-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "stored item-1" || hits.Load() != 3 {
		t.Fatalf("got %d %q after %d hits; want 200 after 3", resp.StatusCode, body, hits.Load())
	}
	if ms, _ := strconv.Atoi(budget.Load().(string)); ms < 1 || ms > 1000 {
		t.Fatalf("X-Request-Timeout %q, want the attempt's ≤ 1s budget", budget.Load())
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("took %v; want ≥ 1s attempt timeout + 1s Retry-After", took)
	}
	host := strings.TrimPrefix(url, "http://")
	if c := tr.Breaker().Counts(host); c.TotalFailures != 2 || c.ConsecutiveFailures != 0 || tr.Breaker().State(host) != resilience.StateClosed {
		t.Fatalf("breaker counts %+v state %v; want 2 failures then a success, closed", c, tr.Breaker().State(host))
	}
	if m := collect("scalekit.httpx.client.retries", "scalekit.httpx.outcome"); m["sent"] != 2 {
		t.Fatalf("retry metric %v", m)
	}
}

func TestClientStackHedgesAndOverallTimeout(t *testing.T) {
	var hits atomic.Int32
	url := clientLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 || strings.HasSuffix(r.URL.Path, "/hang") {
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, "fast")
	}))
	tr := clientStack(t, nil, &TransportOptions{
		Timeout:        2 * time.Second,
		AttemptTimeout: time.Second, // the hedge must answer within it, under -race on a loaded machine
		Hedge:          &HedgeOptions{Delay: 50 * time.Millisecond},
	})
	client := &http.Client{Transport: tr}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url + "/a")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != "fast" || hits.Load() != 2 {
		t.Fatalf("got %q after %d hits; want the hedge's answer after 2", body, hits.Load())
	}

	// A backend that never answers: attempts time out and are retried until
	// the overall Timeout ends the call.
	_, err = client.Get(url + "/hang")
	var te *ClientTimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a *ClientTimeoutError", err)
	}
}

func TestClientStackBadOptions(t *testing.T) {
	for name, o := range map[string]*TransportOptions{
		"bad retry":   {Retry: &RetryOptions{MaxAttempts: -1}},
		"bad breaker": {Breaker: &BreakerOptions{Timeout: -1}},
		"bad hedge":   {Hedge: &HedgeOptions{Delay: -1}},
	} {
		if _, err := NewTransport(nil, o); !errors.Is(err, ErrInvalidClientOption) {
			t.Errorf("%s: %v", name, err)
		}
	}
	tr := clientStack(t, nil, &TransportOptions{NoRetry: true, NoBreaker: true})
	if tr.Breaker() != nil {
		t.Fatal("NoBreaker stack has breakers")
	}
}

type clientIdleCounter struct {
	clientCanned
	n atomic.Int32
}

func (c *clientIdleCounter) CloseIdleConnections() { c.n.Add(1) }

func TestClientStackForwardsCloseIdleConnections(t *testing.T) {
	inner := &clientIdleCounter{}
	tr := clientStack(t, inner, &TransportOptions{Timeout: time.Second, AttemptTimeout: time.Second, Hedge: &HedgeOptions{}})
	(&http.Client{Transport: tr}).CloseIdleConnections()
	if inner.n.Load() != 1 {
		t.Fatal("CloseIdleConnections did not reach the innermost transport")
	}
}
