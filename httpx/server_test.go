package httpx_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/httpx"
)

func TestHealth(t *testing.T) {
	h := httpx.NewHealth(&httpx.HealthOptions{Timeout: 20 * time.Millisecond, CacheTTL: -1,
		Details: func(*http.Request) bool { return true }})
	mux := http.NewServeMux()
	h.Register(mux)
	if w := serve(mux, get("/healthz")); w.Code != 200 || !strings.Contains(w.Body.String(), `"ok"`) {
		t.Fatalf("healthz %d %s", w.Code, w.Body)
	}
	if w := serve(mux, get("/readyz")); w.Code != 200 {
		t.Fatalf("readyz without checks: %d", w.Code)
	}
	dbUp := true
	h.AddCheck("db", func(ctx context.Context) error {
		if !dbUp {
			return errors.New("connection refused")
		}
		return nil
	})
	h.AddCheck("cache", func(context.Context) error { return nil })
	var rep httpx.Report
	w := serve(mux, get("/readyz"))
	_ = json.Unmarshal(w.Body.Bytes(), &rep)
	if w.Code != 200 || rep.Status != "ok" || rep.Checks["db"].Status != "ok" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("ready: %d %s", w.Code, w.Body)
	}
	dbUp = false
	w = serve(mux, get("/readyz"))
	rep = httpx.Report{}
	_ = json.Unmarshal(w.Body.Bytes(), &rep)
	if w.Code != 503 || rep.Status != "fail" || rep.Checks["db"].Error != "connection refused" || rep.Checks["cache"].Status != "ok" ||
		w.Header().Get("Retry-After") == "" {
		t.Fatalf("db down: %d %s", w.Code, w.Body)
	}
	// Liveness does not depend on checks.
	if w := serve(mux, get("/healthz")); w.Code != 200 {
		t.Fatalf("healthz with db down: %d", w.Code)
	}
	dbUp = true
	h.SetDraining(true)
	w = serve(mux, get("/readyz"))
	if w.Code != 503 || !strings.Contains(w.Body.String(), "draining") {
		t.Fatalf("draining: %d %s", w.Code, w.Body)
	}
	h.SetDraining(false)
	if w := serve(mux, req(http.MethodHead, "/readyz", "")); w.Code != 200 || w.Body.Len() != 0 {
		t.Fatalf("HEAD: %d %q", w.Code, w.Body)
	}
}

func TestHealthSlowAndPanickingChecks(t *testing.T) {
	h := httpx.NewHealth(&httpx.HealthOptions{Timeout: 10 * time.Millisecond})
	block := make(chan struct{})
	defer close(block)
	h.AddCheck("stuck", func(context.Context) error { <-block; return nil }) // ignores its context
	h.AddCheck("polite", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	h.AddCheck("panics", func(context.Context) error { panic("oops") })
	rep, ok := h.Check(context.Background())
	if ok || rep.Checks["stuck"].Status != "fail" || rep.Checks["polite"].Status != "fail" || rep.Checks["panics"].Error != "check panicked" {
		t.Fatalf("%+v", rep)
	}
}

// startServer runs s on a loopback listener and returns its base URL and
// a channel with Serve's result.
func startServer(t *testing.T, s *httpx.Server) (string, chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() { _ = s.HTTPServer().Close() })
	return "http://" + l.Addr().String(), done
}

func TestServerGracefulShutdownDrainsInFlight(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	health := httpx.NewHealth(nil)
	mux := http.NewServeMux()
	health.Register(mux)
	entered, release := make(chan struct{}), make(chan struct{})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	s := httpx.NewServer("", mux, &httpx.ServerOptions{Health: health, DrainDelay: 5 * time.Second, Clock: clk,
		Logger: slog.New(slog.DiscardHandler)})
	base, served := startServer(t, s)

	type result struct {
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{string(b), err}
	}()
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if err := clk.BlockUntil(context.Background(), 1); err != nil { // Shutdown waits DrainDelay
		t.Fatal(err)
	}
	// During the drain delay the server still answers, and readiness fails.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("readyz while draining: %d", resp.StatusCode)
	}
	clk.Advance(5 * time.Second)
	// The listener closes; the in-flight request is still running.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still open after the drain delay")
		}
		time.Sleep(10 * time.Millisecond) // polling for the listener to close
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	if r := <-inflight; r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestServerShutdownDeadlineClosesStuckRequests(t *testing.T) {
	entered, block := make(chan struct{}), make(chan struct{})
	defer close(block)
	s := httpx.NewServer("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-block
	}), &httpx.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	base, _ := startServer(t, s)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(base)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("stuck request completed after forced close")
	}
}

func TestServerRunAndHugeHeaders(t *testing.T) {
	s := httpx.NewServer("", okHandler, &httpx.ServerOptions{MaxHeaderBytes: 4 << 10, Logger: slog.New(slog.DiscardHandler)})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, l) }()
	base := "http://" + l.Addr().String()
	r, _ := http.NewRequest(http.MethodGet, base, nil)
	r.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("huge header: %d", resp.StatusCode)
	}
	resp, err = http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
