package httpx_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/ratelimit"
)

// TestDefaultStackProbesBypassLimits (issue 11 point 1): health probes get
// through DefaultStack whatever the rate-limit key (a missing API key would
// answer 400 and have Kubernetes restart the pod), and are never rate
// limited, shed or handled as idempotent requests.
func TestDefaultStackProbesBypassLimits(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(t, clk, ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 1, Period: time.Hour})
	shed := httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Initial: 1, Min: 1, Max: 1})
	store, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 100})
	health := httpx.NewHealth(nil)
	mux := http.NewServeMux()
	health.Register(mux)
	mux.HandleFunc("POST /readyz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }) // a probe by POST
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {})
	h := httpx.DefaultStack(&httpx.StackOptions{Logger: slog.New(slog.DiscardHandler),
		RateLimiter: l, RateLimit: &httpx.RateLimitOptions{Key: httpx.HeaderKey("X-API-Key"), Clock: clk},
		Shed: shed, ShedOptions: &httpx.ShedOptions{Priority: func(*http.Request) httpx.Priority { return httpx.Low }},
		Idempotency: store, IdempotencyOptions: &httpx.IdempotencyOptions{Required: true}})(mux)
	// Hold the only shed slot so everything non-critical is refused.
	tok, ok := shed.Acquire(context.Background(), httpx.High)
	if !ok {
		t.Fatal("acquire")
	}
	defer tok.Release()
	for range 3 {
		for _, p := range []string{"/healthz", "/readyz"} {
			if w := serve(h, get(p)); w.Code != 200 {
				t.Fatalf("GET %s: %d %s", p, w.Code, w.Body)
			}
		}
		if w := serve(h, req(http.MethodPost, "/readyz", "")); w.Code != 204 {
			t.Fatalf("POST /readyz without Idempotency-Key: %d %s", w.Code, w.Body)
		}
	}
	if w := serve(h, get("/work")); w.Code == 200 {
		t.Fatal("a normal request got through: the limits are not installed")
	}
}

// TestDefaultStackClientIPOption (issue 11 point 1): StackOptions.ClientIP
// is the client resolution of the default rate-limit key.
func TestDefaultStackClientIPOption(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := newLimiter(t, clk, ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 1, Period: time.Hour})
	res, err := httpx.NewClientIPResolver(&httpx.ClientIPOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	h := httpx.DefaultStack(&httpx.StackOptions{Logger: slog.New(slog.DiscardHandler), RateLimiter: l,
		RateLimit: &httpx.RateLimitOptions{Clock: clk}, ClientIP: res})(okHandler)
	for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
		r := get("/", "X-Forwarded-For", client)
		r.RemoteAddr = "10.0.0.2:1"
		if w := serve(h, r); w.Code != 200 {
			t.Fatalf("client %s shares the balancer's bucket: %d", client, w.Code)
		}
	}
}

// TestDefaultStackLogsRequestIDOnce (issue 11 point 1): with a LogHandler
// logger, as the docs suggest, each access-log and panic line carries
// request_id once.
func TestDefaultStackLogsRequestIDOnce(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(httpx.LogHandler(slog.NewJSONHandler(&buf, nil)))
	h := httpx.DefaultStack(&httpx.StackOptions{Logger: lg})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		slog.New(httpx.LogHandler(slog.NewJSONHandler(&buf, nil))).InfoContext(r.Context(), "handler line")
	}))
	serve(h, get("/", "X-Request-ID", "rid-1"))
	serve(h, get("/panic", "X-Request-ID", "rid-2"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 { // handler, access; panic, access
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for _, line := range lines {
		if n := strings.Count(line, `"request_id"`); n != 1 {
			t.Errorf("request_id %d times in %s", n, line)
		}
	}
}

// TestDefaultStackMuxErrorsAreProblems (issue 11 point 1): ServeMux's own
// 404 and 405 answers come out of DefaultStack as problem+json (the 405
// keeping its Allow header); a handler's own 404 body is left alone.
func TestDefaultStackMuxErrorsAreProblems(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /mine", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`{"mine":true}`))
	})
	h := httpx.DefaultStack(&httpx.StackOptions{Logger: slog.New(slog.DiscardHandler)})(mux)
	problemOf(t, serve(h, get("/nope")), http.StatusNotFound)
	w := serve(h, req(http.MethodDelete, "/orders", ""))
	problemOf(t, w, http.StatusMethodNotAllowed)
	if !strings.Contains(w.Header().Get("Allow"), "GET") {
		t.Fatalf("Allow %q", w.Header().Get("Allow"))
	}
	if w := serve(h, get("/mine")); w.Body.String() != `{"mine":true}` || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("handler's own 404 rewritten: %s %v", w.Body, w.Header())
	}
}
