package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lb/lbtest"
)

func start(t *testing.T, cfg config) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { errc <- run(ctx, cfg, ln, log) }()
	return ln.Addr().String(), func() error {
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return after cancel")
			return nil
		}
	}
}

func defaults(mode, policy string, routes ...string) config {
	return config{Mode: mode, Policy: policy, Routes: routes, HealthInterval: time.Second,
		Drain: 5 * time.Second, DNSInterval: time.Second}
}

func TestHTTPRoutesAndGracefulShutdown(t *testing.T) {
	v1, v2 := lbtest.NewServer(t, "video1"), lbtest.NewServer(t, "video2")
	web := lbtest.NewServer(t, "web")
	web.SetDelay(200 * time.Millisecond)
	cfg := defaults("http", "rr",
		"/video/="+v1.Addr()+","+v2.Addr()+"*1",
		"/="+web.Addr())
	cfg.Health = "/healthz"
	addr, stop := start(t, cfg)
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for range 4 {
		if got := get("/video/a"); !strings.HasPrefix(got, "video") {
			t.Fatalf("/video/a → %q", got)
		}
	}
	if v1.Hits() != 2 || v2.Hits() != 2 {
		t.Fatalf("video hits %d/%d, want 2/2", v1.Hits(), v2.Hits())
	}
	// A slow request in flight finishes during shutdown.
	done := make(chan string)
	go func() { done <- get("/index") }()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := web.WaitHits(wctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if got := <-done; got != "web /index" {
		t.Fatalf("in-flight request during shutdown got %q", got)
	}
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

func TestTCPMode(t *testing.T) {
	a, b := lbtest.NewTCPServer(t, "a"), lbtest.NewTCPServer(t, "b")
	cfg := defaults("tcp", "leastconn", "="+a.Addr()+","+b.Addr())
	cfg.Health = "tcp"
	addr, stop := start(t, cfg)
	seen := map[string]bool{}
	var conns []net.Conn
	for range 2 { // held open: least connections spreads them
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("hello\n"))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		seen[line[:1]] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("connections went to %v, want both", seen)
	}
	for _, c := range conns {
		c.Close()
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []config{
		defaults("udp", "rr", "=a:1"),
		defaults("http", "rr"),
		defaults("http", "fastest", "/=127.0.0.1:1"),
		defaults("http", "rr", "/=nohostport"),
		defaults("http", "rr", "/=127.0.0.1:1*0"),
		defaults("http", "rr", "noslash=127.0.0.1:1"),
		defaults("http", "rr", "/"),
		defaults("tcp", "rr", "=127.0.0.1:1", "=127.0.0.1:2"),
		defaults("http", "rr", "/=dns://nohostport"),
	} {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		if err := run(context.Background(), cfg, ln, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	for _, p := range []string{"rr", "wrr", "random", "wrandom", "leastconn", "p2c", "bandwidth", "hash-ip", "hash-header:X-User", "hash-cookie:sid"} {
		if _, _, err := parsePolicy(p); err != nil {
			t.Errorf("policy %s: %v", p, err)
		}
	}
}

func FuzzParseEndpoints(f *testing.F) {
	for _, s := range []string{"a:1", "a:1*3,b:2", "[::1]:80*2", "x", "a:1*", "*,*", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		eps, err := parseEndpoints(s)
		if err != nil {
			return
		}
		for _, e := range eps {
			if _, _, err := net.SplitHostPort(e.Addr); err != nil || e.Weight < 0 {
				t.Fatalf("%q gave bad endpoint %+v", s, e)
			}
		}
	})
}
