package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/resilience"
)

// gobreaker reads time.Now itself (it has no clock option), so the tests
// that need an open breaker to time out use a short real Timeout and poll
// for the state with a deadline, like real-engine TTL tests.
func clientPollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func clientBreaker(t testing.TB, next http.RoundTripper, o *BreakerOptions) *BreakerTransport {
	t.Helper()
	b, err := NewBreakerTransport(next, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func clientHost(t testing.TB, u string) string {
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

func TestBreakerOpensAndFailsFast(t *testing.T) {
	srv := clientNewScript(t, clientStatus(503))
	host := clientHost(t, srv.URL())
	br := clientBreaker(t, nil, &BreakerOptions{FailureThreshold: 3, Timeout: time.Hour})
	for i := 0; i < 3; i++ {
		if code, _, err := clientGet(context.Background(), t, br, srv.URL()); err != nil || code != 503 {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
	}
	_, _, err := clientGet(context.Background(), t, br, srv.URL())
	var be *BreakerError
	if !errors.As(err, &be) || !errors.Is(err, resilience.ErrOpenState) || be.Key != host || be.State != resilience.StateOpen {
		t.Fatalf("err = %v, want a *BreakerError for %s wrapping resilience.ErrOpenState", err, host)
	}
	if !strings.Contains(err.Error(), host) || !strings.Contains(err.Error(), "open") {
		t.Fatalf("error %q does not name the host and state", err)
	}
	if h := srv.hits.Load(); h != 3 {
		t.Fatalf("backend hits = %d, want 3 (the 4th must not be sent)", h)
	}
	// 4xx answers are the caller's fault and do not count.
	ok := clientNewScript(t, clientStatus(404))
	for i := 0; i < 10; i++ {
		if code, _, err := clientGet(context.Background(), t, br, ok.URL()); err != nil || code != 404 {
			t.Fatalf("404 backend: %d %v", code, err)
		}
	}
	if s := br.State(clientHost(t, ok.URL())); s != resilience.StateClosed {
		t.Fatalf("404s opened the breaker: %v", s)
	}
}

func TestBreakerPerHost(t *testing.T) {
	bad := clientNewScript(t, clientStatus(502))
	good := clientNewScript(t)
	br := clientBreaker(t, nil, &BreakerOptions{FailureThreshold: 2, Timeout: time.Hour})
	for i := 0; i < 3; i++ {
		_, _, _ = clientGet(context.Background(), t, br, bad.URL())
	}
	if s := br.State(clientHost(t, bad.URL())); s != resilience.StateOpen {
		t.Fatalf("bad host state %v, want open", s)
	}
	if code, _, err := clientGet(context.Background(), t, br, good.URL()); err != nil || code != 200 {
		t.Fatalf("good host refused: %d %v", code, err)
	}
	if s := br.State(clientHost(t, good.URL())); s != resilience.StateClosed {
		t.Fatalf("good host state %v", s)
	}
}

// TestBreakerRecoversUnderContinuousLoad is the scenario that keeps go-zero's
// and kratos's breakers stuck open: callers keep hammering an open breaker
// (and a retry layer sits on top). Rejections, including the half-open
// ErrTooManyRequests seen by concurrent callers while a probe is in flight,
// must not count as failures, so once the backend is healthy the first
// probe after Timeout closes the breaker.
func TestBreakerRecoversUnderContinuousLoad(t *testing.T) {
	var healthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	host := clientHost(t, srv.URL)
	mp, collect := clientMetrics(t)
	var (
		mu          sync.Mutex
		transitions []string
	)
	br := clientBreaker(t, nil, &BreakerOptions{
		FailureThreshold: 5,
		Timeout:          50 * time.Millisecond,
		MeterProvider:    mp,
		OnStateChange: func(key string, from, to resilience.State) {
			mu.Lock()
			transitions = append(transitions, from.String()+">"+to.String())
			mu.Unlock()
		},
	})
	rt := clientRetry(t, br, &RetryOptions{MaxAttempts: 3, InitialBackoff: time.Microsecond, MaxBackoff: time.Microsecond})

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var rejected, served atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				code, _, err := clientGet(ctx, t, rt, srv.URL)
				switch {
				case errors.Is(err, resilience.ErrOpenState), errors.Is(err, resilience.ErrTooManyRequests):
					rejected.Add(1)
				case err == nil && code == 200:
					served.Add(1)
				}
			}
		}()
	}
	clientPollUntil(t, "breaker to open", func() bool { return br.State(host) == resilience.StateOpen })
	clientPollUntil(t, "rejections under load", func() bool { return rejected.Load() > 100 })
	healthy.Store(true)
	clientPollUntil(t, "breaker to close under continuous load", func() bool {
		return br.State(host) == resilience.StateClosed && served.Load() > 0
	})
	stop()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	want := []string{"closed>open", "open>half-open", "half-open>closed"}
	if len(transitions) < 3 || strings.Join(transitions[len(transitions)-2:], ",") != strings.Join(want[1:], ",") || transitions[0] != want[0] {
		t.Fatalf("transitions %v; want to start with closed>open and end with open>half-open, half-open>closed", transitions)
	}
	to := collect("scalekit.httpx.client.breaker.transitions", "scalekit.httpx.breaker.to")
	if to["open"] < 1 || to["half-open"] < 1 || to["closed"] != 1 {
		t.Fatalf("transition metric by target state %v", to)
	}
	if rej := collect("scalekit.httpx.client.breaker.rejections", "server.address")[hostOnly(host)]; rej < 100 {
		t.Fatalf("rejection metric %d, want the >100 rejections seen", rej)
	}
	if st := collect("scalekit.httpx.client.breaker.state", "server.address")[hostOnly(host)]; st != 0 {
		t.Fatalf("state gauge %d, want 0 (closed)", st)
	}
}

func TestBreakerStateGaugeAndHalfOpenSaturation(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	var mode atomic.Int32 // 0 fail, 1 block then ok
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mode.Load() == 0 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		arrived <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	host := clientHost(t, srv.URL)
	mp, collect := clientMetrics(t)
	br := clientBreaker(t, nil, &BreakerOptions{FailureThreshold: 1, Timeout: 20 * time.Millisecond, MeterProvider: mp})
	_, _, _ = clientGet(context.Background(), t, br, srv.URL)
	if st := collect("scalekit.httpx.client.breaker.state", "server.address")[hostOnly(host)]; st != 2 {
		t.Fatalf("state gauge %d, want 2 (open)", st)
	}
	mode.Store(1)
	clientPollUntil(t, "half-open", func() bool { return br.State(host) == resilience.StateHalfOpen })
	probe := make(chan int, 1)
	go func() { c, _, _ := clientGet(context.Background(), t, br, srv.URL); probe <- c }()
	<-arrived
	_, _, err := clientGet(context.Background(), t, br, srv.URL)
	var be *BreakerError
	if !errors.As(err, &be) || be.State != resilience.StateHalfOpen || !errors.Is(err, resilience.ErrTooManyRequests) {
		t.Fatalf("second request during the probe: %v, want a half-open *BreakerError", err)
	}
	if st := collect("scalekit.httpx.client.breaker.state", "server.address")[hostOnly(host)]; st != 1 {
		t.Fatalf("state gauge %d, want 1 (half-open)", st)
	}
	close(release)
	if c := <-probe; c != 200 {
		t.Fatalf("probe %d", c)
	}
	if s := br.State(host); s != resilience.StateClosed {
		t.Fatalf("state after successful probe %v", s)
	}
}

func TestBreakerIgnoresCallerCancellation(t *testing.T) {
	arrived := make(chan struct{}, 1)
	var mode atomic.Int32 // 0 hang until the client leaves, 1 fail, 2 ok
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case 0:
			arrived <- struct{}{}
			<-r.Context().Done()
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}))
	defer srv.Close()
	host := clientHost(t, srv.URL)
	br := clientBreaker(t, nil, &BreakerOptions{FailureThreshold: 2, Timeout: 20 * time.Millisecond})
	cancelled := func() {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { _, _, err := clientGet(ctx, t, br, srv.URL); errc <- err }()
		select {
		case <-arrived:
		case err := <-errc:
			t.Fatalf("request not sent: %v", err)
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	}
	for i := 0; i < 5; i++ {
		cancelled()
	}
	if c := br.Counts(host); c.TotalFailures != 0 || c.TotalExclusions != 5 || br.State(host) != resilience.StateClosed {
		t.Fatalf("after 5 caller cancellations: %+v state %v; want no failures, 5 exclusions, closed", c, br.State(host))
	}

	// A cancelled half-open probe frees its slot instead of reopening.
	mode.Store(1)
	for i := 0; i < 2; i++ {
		_, _, _ = clientGet(context.Background(), t, br, srv.URL)
	}
	if s := br.State(host); s != resilience.StateOpen {
		t.Fatalf("state %v, want open", s)
	}
	mode.Store(0)
	clientPollUntil(t, "half-open", func() bool { return br.State(host) == resilience.StateHalfOpen })
	cancelled()
	if s := br.State(host); s != resilience.StateHalfOpen {
		t.Fatalf("state after a cancelled probe %v, want still half-open", s)
	}
	mode.Store(2)
	if code, _, err := clientGet(context.Background(), t, br, srv.URL); err != nil || code != 200 {
		t.Fatalf("next probe: %d %v (slot not freed?)", code, err)
	}
	if s := br.State(host); s != resilience.StateClosed {
		t.Fatalf("state %v, want closed", s)
	}
}

func TestBreakerPanickingTransportFreesProbe(t *testing.T) {
	var mode atomic.Int32 // 0 fail, 1 panic, 2 ok
	next := clientRTFunc(func(*http.Request) (*http.Response, error) {
		switch mode.Load() {
		case 0:
			return nil, errors.New("connection refused")
		case 1:
			panic("boom")
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	br := clientBreaker(t, next, &BreakerOptions{FailureThreshold: 1, Timeout: 20 * time.Millisecond})
	req, _ := http.NewRequest(http.MethodGet, "http://backend.test/", nil)
	if _, err := br.RoundTrip(req); err == nil {
		t.Fatal("want the send error")
	}
	clientPollUntil(t, "half-open", func() bool { return br.State("backend.test") == resilience.StateHalfOpen })
	mode.Store(1)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic swallowed")
			}
		}()
		_, _ = br.RoundTrip(req)
	}()
	mode.Store(2)
	if resp, err := br.RoundTrip(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("probe after a panicking one: %v (slot leaked?)", err)
	}
}

func TestBreakerKeysAndBounds(t *testing.T) {
	next := clientRTFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasPrefix(r.URL.Host, "bad") {
			return &http.Response{StatusCode: 503, Body: http.NoBody}, nil
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	br := clientBreaker(t, next, &BreakerOptions{FailureThreshold: 1, Timeout: time.Hour, MaxHosts: 2})
	get := func(host string) error {
		req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/", nil)
		_, err := br.RoundTrip(req)
		return err
	}
	_ = get("bad1")
	for _, h := range []string{"a", "b", "c", "d"} {
		if err := get(h); err != nil {
			t.Fatal(err)
		}
	}
	br.mu.RLock()
	n := len(br.breakers)
	br.mu.RUnlock()
	if n > 2 {
		t.Fatalf("%d breakers, want ≤ MaxHosts 2", n)
	}
	if err := get("bad1"); !errors.Is(err, resilience.ErrOpenState) {
		t.Fatalf("open breaker was evicted: %v", err)
	}
	// An empty key bypasses the breakers.
	bypass := clientBreaker(t, next, &BreakerOptions{FailureThreshold: 1, Key: func(*http.Request) string { return "" }})
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest(http.MethodGet, "http://bad2/", nil)
		if _, err := bypass.RoundTrip(req); err != nil {
			t.Fatalf("bypassed request refused: %v", err)
		}
	}
}

func TestBreakerBadOptions(t *testing.T) {
	for name, o := range map[string]*BreakerOptions{
		"negative timeout":   {Timeout: -1},
		"negative interval":  {Interval: -1},
		"negative max hosts": {MaxHosts: -1},
	} {
		if _, err := NewBreakerTransport(nil, o); !errors.Is(err, ErrInvalidClientOption) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestBreakerCustomClassification(t *testing.T) {
	next := clientRTFunc(func(r *http.Request) (*http.Response, error) {
		code := 200
		if r.URL.Path == "/teapot" {
			code = http.StatusTeapot
		}
		return &http.Response{StatusCode: code, Body: http.NoBody}, nil
	})
	var trips atomic.Int32
	br := clientBreaker(t, next, &BreakerOptions{
		Timeout:   time.Hour,
		IsFailure: func(resp *http.Response, err error) bool { return err != nil || resp.StatusCode == http.StatusTeapot },
		ReadyToTrip: func(c resilience.Counts) bool {
			trips.Add(1)
			return c.TotalFailures >= 3 && c.TotalFailures*2 >= c.Requests // ≥ 50% of ≥ 3
		},
	})
	send := func(path string) error {
		req, _ := http.NewRequest(http.MethodGet, "http://backend.test"+path, nil)
		_, err := br.RoundTrip(req)
		return err
	}
	for _, p := range []string{"/ok", "/teapot", "/ok", "/teapot", "/ok"} {
		if err := send(p); err != nil {
			t.Fatal(err)
		}
	}
	if s := br.State("backend.test"); s != resilience.StateClosed || trips.Load() != 2 {
		t.Fatalf("state %v after 2 of 5 failures (ReadyToTrip called %d times); want closed", s, trips.Load())
	}
	_ = send("/teapot") // 3 of 6: trips
	if err := send("/ok"); !errors.Is(err, resilience.ErrOpenState) {
		t.Fatalf("err = %v, want open after 3 of 6 failures", err)
	}
}
