package httpx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/resilience"
)

func clientRetry(t testing.TB, next http.RoundTripper, o *RetryOptions) http.RoundTripper {
	t.Helper()
	rt, err := RetryTransport(next, o)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestRetryRecoversFromTransientStatuses(t *testing.T) {
	srv := clientNewScript(t, clientStatus(503), clientStatus(502), clientStatus(429), clientStatus(504),
		func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	fake := clock.NewFake(time.Time{})
	clientAutoAdvance(t, fake, time.Minute)
	mp, collect := clientMetrics(t)
	track := &clientBodyTracker{next: http.DefaultTransport}
	rt := clientRetry(t, track, &RetryOptions{MaxAttempts: 5, Clock: fake, MeterProvider: mp})
	code, body, err := clientGet(context.Background(), t, rt, srv.URL())
	if err != nil || code != 200 || body != "ok" {
		t.Fatalf("got %d %q %v, want 200 ok", code, body, err)
	}
	if h := srv.hits.Load(); h != 5 {
		t.Fatalf("backend hits = %d, want 5", h)
	}
	if o, c := track.opened.Load(), track.closed.Load(); o != 5 || c != 5 {
		t.Fatalf("bodies opened %d closed %d, want 5/5 (4 discarded + the caller's)", o, c)
	}
	if got := collect("scalekit.httpx.client.retries", "scalekit.httpx.outcome")["sent"]; got != 4 {
		t.Fatalf("retries metric sent = %d, want 4", got)
	}
}

func TestRetryGivesUpWithLastResponse(t *testing.T) {
	srv := clientNewScript(t, clientStatus(503, "X-Attempt", "last"))
	fake := clock.NewFake(time.Time{})
	clientAutoAdvance(t, fake, time.Minute)
	track := &clientBodyTracker{next: http.DefaultTransport}
	rt := clientRetry(t, track, &RetryOptions{MaxAttempts: 3, Clock: fake})
	req, _ := http.NewRequest(http.MethodGet, srv.URL(), nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 503 || string(b) != "Service Unavailable" {
		t.Fatalf("got %d %q, want the last 503 with its body unread", resp.StatusCode, b)
	}
	if h := srv.hits.Load(); h != 3 {
		t.Fatalf("hits = %d, want MaxAttempts = 3", h)
	}
	if o, c := track.opened.Load(), track.closed.Load(); o != 3 || c != 3 {
		t.Fatalf("bodies opened %d closed %d", o, c)
	}
}

// clientStartGet runs a GET in the background.
func clientStartGet(ctx context.Context, t *testing.T, rt http.RoundTripper, url string) <-chan int {
	out := make(chan int, 1)
	go func() {
		code, _, err := clientGet(ctx, t, rt, url)
		if err != nil {
			code = -1
		}
		out <- code
	}()
	return out
}

func clientWaitParked(t *testing.T, fake *clock.Fake) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fake.BlockUntil(ctx, 1); err != nil {
		t.Fatal("retry never parked on the clock")
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value func(now time.Time) string
		want  time.Duration
	}{
		{"seconds", func(time.Time) string { return "3" }, 3 * time.Second},
		{"http-date", func(now time.Time) string { return now.Add(5 * time.Second).Format(http.TimeFormat) }, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := clock.NewFake(time.Time{})
			srv := clientNewScript(t, clientStatus(503, "Retry-After", tc.value(fake.Now())), clientStatus(200))
			rt := clientRetry(t, nil, &RetryOptions{Clock: fake, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
			got := clientStartGet(context.Background(), t, rt, srv.URL())
			clientWaitParked(t, fake)
			fake.Advance(tc.want - time.Millisecond)
			select {
			case c := <-got:
				t.Fatalf("answered %d before Retry-After elapsed", c)
			default:
			}
			if h := srv.hits.Load(); h != 1 {
				t.Fatalf("hits = %d before Retry-After elapsed", h)
			}
			fake.Advance(time.Millisecond)
			if c := <-got; c != 200 {
				t.Fatalf("status %d, want 200", c)
			}
			if h := srv.hits.Load(); h != 2 {
				t.Fatalf("hits = %d, want 2", h)
			}
		})
	}
}

func TestRetryAfterBeyondCapReturnsResponse(t *testing.T) {
	srv := clientNewScript(t, clientStatus(429, "Retry-After", "3600"), clientStatus(200))
	rt := clientRetry(t, nil, &RetryOptions{MaxRetryAfter: 10 * time.Second, Clock: clock.NewFake(time.Time{})})
	code, _, err := clientGet(context.Background(), t, rt, srv.URL())
	if err != nil || code != 429 || srv.hits.Load() != 1 {
		t.Fatalf("got %d %v after %d hits; want the 429 at once", code, err, srv.hits.Load())
	}
}

func TestRetryWaitPastDeadlineReturnsAtOnce(t *testing.T) {
	srv := clientNewScript(t, clientStatus(503, "Retry-After", "5"), clientStatus(200))
	rt := clientRetry(t, nil, &RetryOptions{Clock: clock.NewFake(time.Time{})})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	code, _, err := clientGet(ctx, t, rt, srv.URL())
	if err != nil || code != 503 || srv.hits.Load() != 1 {
		t.Fatalf("got %d %v after %d hits; want the 503 at once", code, err, srv.hits.Load())
	}
}

func TestRetryCancelDuringWait(t *testing.T) {
	srv := clientNewScript(t, clientStatus(503))
	fake := clock.NewFake(time.Time{})
	track := &clientBodyTracker{next: http.DefaultTransport}
	rt := clientRetry(t, track, &RetryOptions{Clock: fake, InitialBackoff: time.Hour, MaxBackoff: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL(), nil)
		_, err := rt.RoundTrip(req)
		errc <- err
	}()
	clientWaitParked(t, fake)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if h := srv.hits.Load(); h != 1 {
		t.Fatalf("hits = %d, want 1", h)
	}
	if track.opened.Load() != 1 || track.closed.Load() != 1 {
		t.Fatal("discarded response body not closed")
	}
}

func TestRetryOnlyRepeatableRequests(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	clientAutoAdvance(t, fake, time.Minute)
	send := func(t *testing.T, method string, body io.Reader, key string, noGetBody bool) (*clientScript, int) {
		srv := clientNewScript(t, clientStatus(503), clientStatus(201))
		rt := clientRetry(t, nil, &RetryOptions{Clock: fake})
		req, _ := http.NewRequest(method, srv.URL(), body)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		if noGetBody {
			req.GetBody = nil
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		clientDiscard(resp)
		return srv, resp.StatusCode
	}
	t.Run("POST without key is sent once", func(t *testing.T) {
		srv, code := send(t, http.MethodPost, strings.NewReader("x"), "", false)
		if code != 503 || srv.hits.Load() != 1 {
			t.Fatalf("code %d hits %d", code, srv.hits.Load())
		}
	})
	t.Run("POST with Idempotency-Key is retried with its body", func(t *testing.T) {
		srv, code := send(t, http.MethodPost, strings.NewReader("payload"), "k1", false)
		if code != 201 || srv.hits.Load() != 2 {
			t.Fatalf("code %d hits %d", code, srv.hits.Load())
		}
		if b := srv.Bodies(); b[0] != "payload" || b[1] != "payload" {
			t.Fatalf("bodies %q, want the payload twice", b)
		}
	})
	t.Run("PUT is retried with its body", func(t *testing.T) {
		srv, code := send(t, http.MethodPut, strings.NewReader("v"), "", false)
		if code != 201 || srv.hits.Load() != 2 || srv.Bodies()[1] != "v" {
			t.Fatalf("code %d hits %d bodies %q", code, srv.hits.Load(), srv.Bodies())
		}
	})
	t.Run("body without GetBody is sent once", func(t *testing.T) {
		srv, code := send(t, http.MethodPut, io.NopCloser(strings.NewReader("v")), "", true)
		if code != 503 || srv.hits.Load() != 1 {
			t.Fatalf("code %d hits %d", code, srv.hits.Load())
		}
	})
}

func TestRetryConnectionErrors(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	clientAutoAdvance(t, fake, time.Minute)
	srv := clientNewScript(t, clientHangup, clientHangup, clientStatus(200))
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	rt := clientRetry(t, tr, &RetryOptions{Clock: fake})
	code, _, err := clientGet(context.Background(), t, rt, srv.URL())
	if err != nil || code != 200 || srv.hits.Load() != 3 {
		t.Fatalf("got %d %v after %d hits; want 200 after 3", code, err, srv.hits.Load())
	}

	// A non-idempotent request is not resent after a connection error: the
	// server may have acted on it.
	srv2 := clientNewScript(t, clientHangup, clientStatus(200))
	req, _ := http.NewRequest(http.MethodPost, srv2.URL(), strings.NewReader("x"))
	if _, err := rt.RoundTrip(req); err == nil || srv2.hits.Load() != 1 {
		t.Fatalf("POST: err %v hits %d; want the error after 1 hit", err, srv2.hits.Load())
	}
}

func TestRetryNeverRetriesBreakerRejectionsOrCancellation(t *testing.T) {
	var calls int
	rej := clientRTFunc(func(*http.Request) (*http.Response, error) {
		calls++
		return nil, &BreakerError{Key: "h", State: resilience.StateOpen, Err: resilience.ErrOpenState}
	})
	rt := clientRetry(t, rej, &RetryOptions{MaxAttempts: 5})
	req, _ := http.NewRequest(http.MethodGet, "http://h/", nil)
	if _, err := rt.RoundTrip(req); !errors.Is(err, resilience.ErrOpenState) || calls != 1 {
		t.Fatalf("err %v after %d calls; want the breaker error after 1", err, calls)
	}
	calls = 0
	ctx, cancel := context.WithCancel(context.Background())
	canc := clientRTFunc(func(*http.Request) (*http.Response, error) {
		calls++
		cancel()
		return nil, context.Canceled
	})
	rt = clientRetry(t, canc, &RetryOptions{MaxAttempts: 5})
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://h/", nil)
	if _, err := rt.RoundTrip(req); !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("err %v after %d calls; want Canceled after 1", err, calls)
	}
}

func TestRetryCustomClassification(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	clientAutoAdvance(t, fake, time.Minute)
	srv := clientNewScript(t, clientStatus(500), clientStatus(200))
	rt := clientRetry(t, nil, &RetryOptions{Clock: fake})
	if code, _, _ := clientGet(context.Background(), t, rt, srv.URL()); code != 500 {
		t.Fatalf("500 retried by default: got %d", code)
	}
	srv = clientNewScript(t, clientStatus(500), clientStatus(200))
	rt = clientRetry(t, nil, &RetryOptions{Clock: fake, Statuses: []int{500}})
	if code, _, _ := clientGet(context.Background(), t, rt, srv.URL()); code != 200 {
		t.Fatalf("Statuses {500}: got %d", code)
	}
	srv = clientNewScript(t, clientStatus(503), clientStatus(200))
	rt = clientRetry(t, nil, &RetryOptions{Clock: fake, Retryable: func(*http.Response, error) bool { return false }})
	if code, _, _ := clientGet(context.Background(), t, rt, srv.URL()); code != 503 {
		t.Fatalf("Retryable false: got %d", code)
	}
}

func TestRetryBudgetBoundsAmplification(t *testing.T) {
	srv := clientNewScript(t, clientStatus(503))
	fake := clock.NewFake(time.Time{})
	clientAutoAdvance(t, fake, time.Minute)
	budget, err := NewRetryBudget(&RetryBudgetOptions{Ratio: 0.1, NoMinimum: true, Burst: 1, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	rt := clientRetry(t, nil, &RetryOptions{MaxAttempts: 5, Budget: budget, Clock: fake})
	const n = 200
	for i := 0; i < n; i++ {
		if code, _, err := clientGet(context.Background(), t, rt, srv.URL()); err != nil || code != 503 {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
	}
	// Without a budget a dead backend would see 5 sends per request (1000);
	// with it, at most Burst + Ratio·n = 1 + 20 extra sends.
	extra := srv.hits.Load() - n
	if extra > 21 || extra < 19 {
		t.Fatalf("extra sends = %d, want ≈ 20 and ≤ 21", extra)
	}
}

func TestRetryBudgetArithmetic(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	b, err := NewRetryBudget(&RetryBudgetOptions{NoRatio: true, MinPerSecond: 2, Burst: 2, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for i := 0; i < 5; i++ {
		if b.Withdraw() {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("a full budget of 2 allowed %d", allowed)
	}
	fake.Advance(499 * time.Millisecond)
	if b.Withdraw() {
		t.Fatal("0.998 tokens allowed a retry")
	}
	fake.Advance(time.Millisecond)
	if !b.Withdraw() {
		t.Fatal("refill of 2/s did not allow a retry after 500ms")
	}
	fake.Advance(time.Hour)
	if got := b.Available(); got != 2 {
		t.Fatalf("balance %v, want capped at Burst 2", got)
	}

	r, _ := NewRetryBudget(&RetryBudgetOptions{Ratio: 0.1, NoMinimum: true, Burst: 1, Clock: fake})
	if !r.Withdraw() || r.Withdraw() {
		t.Fatal("Burst 1 must allow exactly one")
	}
	for i := 0; i < 9; i++ {
		r.Deposit()
	}
	if r.Withdraw() {
		t.Fatal("9 requests at ratio 0.1 bought a retry")
	}
	r.Deposit()
	if !r.Withdraw() {
		t.Fatal("10 requests at ratio 0.1 did not buy a retry")
	}
	m, _ := NewRetryBudget(&RetryBudgetOptions{NoRatio: true, MinPerSecond: 1, Burst: 1, Clock: fake})
	m.Withdraw()
	fake.Set(fake.Now().Add(-time.Hour)) // backwards: no credit, no panic
	if m.Withdraw() {
		t.Fatal("clock moving backwards created credit")
	}
	var zero RetryBudget
	zero.Deposit()
	if zero.Withdraw() || zero.Available() != 0 {
		t.Fatal("the zero RetryBudget must allow nothing")
	}
}

func TestRetryBadOptions(t *testing.T) {
	for name, o := range map[string]*RetryOptions{
		"negative attempts":   {MaxAttempts: -1},
		"negative backoff":    {InitialBackoff: -time.Second},
		"multiplier below 1":  {Multiplier: 0.5},
		"status out of range": {Statuses: []int{42}},
	} {
		if _, err := RetryTransport(nil, o); !errors.Is(err, ErrInvalidClientOption) {
			t.Errorf("%s: err = %v, want ErrInvalidClientOption", name, err)
		}
	}
	for name, o := range map[string]*RetryBudgetOptions{
		"ratio above 1":     {Ratio: 1.5},
		"negative ratio":    {Ratio: -0.1},
		"negative minimum":  {MinPerSecond: -1},
		"NaN burst":         {Burst: clientNaN()},
		"infinite minimum":  {MinPerSecond: clientInf()},
		"negative burst":    {Burst: -1},
		"NaN ratio":         {Ratio: clientNaN()},
		"ratio is infinite": {Ratio: clientInf()},
	} {
		if _, err := NewRetryBudget(o); !errors.Is(err, ErrInvalidClientOption) {
			t.Errorf("%s: err = %v, want ErrInvalidClientOption", name, err)
		}
	}
}

func TestClientRetryableErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{io.EOF, true},
		{io.ErrUnexpectedEOF, true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{&ClientTimeoutError{Limit: time.Second}, true},
		{errors.New("http2: server sent GOAWAY and closed the connection"), true},
		{context.Canceled, false},
		{&url.Error{Op: "Get", URL: "http://x", Err: context.Canceled}, false},
		{&url.Error{Op: "Get", URL: "http://x", Err: errors.New("unsupported protocol scheme")}, false},
		{&url.Error{Op: "Get", URL: "http://x", Err: io.EOF}, true},
		{x509.UnknownAuthorityError{}, false},
		{&tls.CertificateVerificationError{Err: errors.New("bad")}, false},
		{errors.New("unsupported protocol scheme \"ftp\""), false},
	} {
		if got := clientRetryableError(tc.err); got != tc.want {
			t.Errorf("clientRetryableError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
