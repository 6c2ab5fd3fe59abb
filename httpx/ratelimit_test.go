package httpx_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
)

func newLimiter(t *testing.T, clk clock.Clock, lim ratelimit.Limit) *ratelimit.Limiter {
	t.Helper()
	l, err := memrate.New(lim, &memrate.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRateLimitPerClient(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	l := newLimiter(t, clk, ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 2, Period: time.Second, Burst: 2})
	h := httpx.RateLimit(l, &httpx.RateLimitOptions{Clock: clk})(okHandler)
	from := func(ip string) *http.Request { r := get("/"); r.RemoteAddr = ip + ":1234"; return r }

	for i := 0; i < 2; i++ {
		w := serve(h, from("10.0.0.1"))
		if w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
		if w.Header().Get("RateLimit-Limit") != "2" || w.Header().Get("RateLimit-Remaining") != strconv.Itoa(1-i) {
			t.Fatalf("request %d headers %v", i, w.Header())
		}
	}
	w := serve(h, from("10.0.0.1"))
	problemOf(t, w, http.StatusTooManyRequests)
	hd := w.Header()
	if hd.Get("Retry-After") != "1" || hd.Get("RateLimit-Remaining") != "0" || hd.Get("X-RateLimit-Limit") != "2" ||
		hd.Get("X-RateLimit-Remaining") != "0" || hd.Get("RateLimit-Reset") != "1" {
		t.Fatalf("429 headers %v", hd)
	}
	if reset, _ := strconv.ParseInt(hd.Get("X-RateLimit-Reset"), 10, 64); reset != 1_700_000_001 {
		t.Fatalf("X-RateLimit-Reset %s", hd.Get("X-RateLimit-Reset"))
	}
	// Another client has its own bucket.
	if w := serve(h, from("10.0.0.2")); w.Code != 200 {
		t.Fatalf("other client: %d", w.Code)
	}
	// Half a second later one more is admitted.
	clk.Advance(500 * time.Millisecond)
	if w := serve(h, from("10.0.0.1")); w.Code != 200 {
		t.Fatalf("after refill: %d", w.Code)
	}
}

func TestRateLimitGlobalAndNoLegacy(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(t, clk, ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 1, Period: time.Minute})
	h := httpx.RateLimit(l, &httpx.RateLimitOptions{Key: httpx.GlobalKey, NoLegacyHeaders: true, Clock: clk})(okHandler)
	r1, r2 := get("/"), get("/")
	r1.RemoteAddr, r2.RemoteAddr = "1.1.1.1:1", "2.2.2.2:2"
	if w := serve(h, r1); w.Code != 200 || w.Header().Get("X-RateLimit-Limit") != "" {
		t.Fatalf("first: %d %v", w.Code, w.Header())
	}
	w := serve(h, r2)
	problemOf(t, w, 429)
	if w.Header().Get("Retry-After") != "60" {
		t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
	}
}

func TestRateLimitHeaderKeyAndCost(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(t, clk, ratelimit.Limit{Algorithm: ratelimit.TokenBucket, Rate: 10, Period: time.Second, Burst: 10})
	h := httpx.RateLimit(l, &httpx.RateLimitOptions{Key: httpx.HeaderKey("X-API-Key"), Prefix: "api:",
		Cost: func(r *http.Request) int { n, _ := strconv.Atoi(r.URL.Query().Get("cost")); return n }, Clock: clk})(okHandler)
	problemOf(t, serve(h, get("/")), 400)                           // missing key
	problemOf(t, serve(h, get("/", "X-API-Key", "bad key")), 400)   // malformed key
	problemOf(t, serve(h, get("/?cost=11", "X-API-Key", "k")), 400) // can never be admitted
	if w := serve(h, get("/?cost=7", "X-API-Key", "k")); w.Code != 200 || w.Header().Get("RateLimit-Remaining") != "3" {
		t.Fatalf("cost 7: %d %v", w.Code, w.Header())
	}
	problemOf(t, serve(h, get("/?cost=4", "X-API-Key", "k")), 429)
	if w := serve(h, get("/?cost=-3", "X-API-Key", "k")); w.Code != 200 { // cost below 1 counts 1
		t.Fatalf("cost -3: %d", w.Code)
	}
}

type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, int) (ratelimit.Decision, error) {
	return ratelimit.Decision{RetryAfter: 3 * time.Second}, errors.New("redis down")
}

func TestRateLimitBackendFailure(t *testing.T) {
	w := serve(httpx.RateLimit(failingLimiter{}, nil)(okHandler), get("/"))
	problemOf(t, w, 503)
	if w.Header().Get("Retry-After") != "3" {
		t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
	}
}

func TestRateLimitLeakyBucketPaces(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(t, clk, ratelimit.Limit{Algorithm: ratelimit.LeakyBucket, Rate: 1, Period: time.Second, Burst: 5})
	h := httpx.RateLimit(l, &httpx.RateLimitOptions{Key: httpx.GlobalKey, Clock: clk})(okHandler)
	if w := serve(h, get("/")); w.Code != 200 {
		t.Fatalf("first: %d", w.Code)
	}
	done := make(chan int)
	go func() { done <- serve(h, get("/")).Code }()
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-done:
		t.Fatalf("paced request answered %d before its slot", c)
	default:
	}
	clk.Advance(time.Second)
	if c := <-done; c != 200 {
		t.Fatalf("paced: %d", c)
	}
}

func TestClientIP(t *testing.T) {
	for addr, want := range map[string]string{"1.2.3.4:5": "1.2.3.4", "[::1]:80": "::/64", "[2001:db8:1:2::5]:80": "2001:db8:1:2::/64",
		"[::ffff:1.2.3.4]:5": "1.2.3.4", "weird": "weird", "": "unknown"} {
		r := get("/")
		r.RemoteAddr = addr
		if got, _ := httpx.ClientIP(r); got != want {
			t.Errorf("ClientIP(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestRateLimitPerClientAndGlobalChained(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	perClient := newLimiter(t, clk, ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 2, Period: time.Minute})
	global := newLimiter(t, clk, ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 3, Period: time.Minute})
	h := httpx.Chain(
		httpx.RateLimit(perClient, &httpx.RateLimitOptions{Prefix: "ip:", Clock: clk}),
		httpx.RateLimit(global, &httpx.RateLimitOptions{Key: httpx.GlobalKey, Clock: clk}),
	)(okHandler)
	from := func(ip string) int { r := get("/"); r.RemoteAddr = ip + ":1"; return serve(h, r).Code }
	got := []int{from("a"), from("a"), from("a"), from("b"), from("c")}
	// a: 2 admitted then its own limit; b takes the third global unit; c hits the global limit.
	want := []int{200, 200, 429, 200, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("codes %v, want %v", got, want)
		}
	}
}

// TestRateLimitClientIPBehindProxies (issue 11 point 1): behind a load
// balancer, the default key is the client the trusted proxies report (the
// right-most untrusted X-Forwarded-For hop), not the balancer's address,
// and a client cannot pick its bucket by forging the left of the header.
func TestRateLimitClientIPBehindProxies(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(t, clk, ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 1, Period: time.Minute})
	res, err := httpx.NewClientIPResolver(&httpx.ClientIPOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	h := httpx.RateLimit(l, &httpx.RateLimitOptions{Clock: clk, ClientIP: res})(okHandler)
	via := func(xff string) int {
		r := get("/", "X-Forwarded-For", xff)
		r.RemoteAddr = "10.0.0.2:443" // the load balancer
		return serve(h, r).Code
	}
	if via("203.0.113.1") != 200 || via("203.0.113.2") != 200 {
		t.Fatal("two clients behind the balancer share one bucket")
	}
	if c := via("1.1.1.1, 203.0.113.1"); c != 429 {
		t.Fatalf("forged left-most hop escaped the client's bucket: %d", c)
	}
	// IPv6 clients share their /64.
	if via("2001:db8:1:2::1") != 200 || via("2001:db8:1:2::2") != 429 {
		t.Fatal("IPv6 /64 not one bucket")
	}
	if _, err := httpx.NewClientIPResolver(&httpx.ClientIPOptions{Header: "X-Real-IP"}); err == nil {
		t.Fatal("unsupported header accepted")
	}
}
