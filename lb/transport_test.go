package lb_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
)

func TestTransportPicksAndFeedsBack(t *testing.T) {
	ss, eps := servers(t, "a", "b")
	bal := newBalancer(t, eps, nil)
	c := &http.Client{Transport: &lb.Transport{Balancer: bal}}
	for range 10 {
		resp, body := get(t, c, "http://users/v1/x", nil)
		if resp.StatusCode != 200 || !strings.HasSuffix(body, " /v1/x") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	}
	if ss[0].Hits() != 5 || ss[1].Hits() != 5 {
		t.Fatalf("hits %d/%d, want 5/5 (round robin)", ss[0].Hits(), ss[1].Hits())
	}
	for _, be := range bal.Backends() {
		if be.InFlight() != 0 || be.Picks() != 5 || be.Latency(time.Now()) == 0 {
			t.Fatalf("%s in flight %d picks %d latency %v after the bodies were read", be.Addr(), be.InFlight(), be.Picks(), be.Latency(time.Now()))
		}
		if be.Bandwidth(time.Now()) == 0 {
			t.Fatalf("%s: no bytes fed back", be.Addr())
		}
	}
}

func TestTransportRetriesIdempotentOnly(t *testing.T) {
	ss, eps := servers(t, "a", "b")
	ss[0].SetFailEvery(1) // a answers 500 to everything
	bal := newBalancer(t, eps, nil)
	var attempts atomic.Int64
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})
	c := &http.Client{Transport: &lb.Transport{Balancer: bal, Base: base,
		RetryStatus: func(s int) bool { return s >= 500 }}}
	// PUT with a body: retried on b with the same body.
	for range 4 {
		req, _ := http.NewRequest(http.MethodPut, "http://svc/doc", bytes.NewReader([]byte("payload")))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("PUT: %d", resp.StatusCode)
		}
	}
	// Every attempt on a was retried once, on b.
	if attempts.Load() != 4+ss[0].Hits() || ss[0].Hits() == 0 || ss[1].Hits() != 4 {
		t.Fatalf("%d attempts for 4 PUTs, a hit %d times, b %d; want 4 + a's hits and b 4",
			attempts.Load(), ss[0].Hits(), ss[1].Hits())
	}
	// POST: not retried, the 500 comes back.
	attempts.Store(0)
	saw500 := false
	for range 4 {
		resp, err := c.Post("http://svc/orders", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		saw500 = saw500 || resp.StatusCode == 500
	}
	if attempts.Load() != 4 || !saw500 {
		t.Fatalf("POST: %d attempts, saw 500: %v; want 4 attempts and the 500", attempts.Load(), saw500)
	}
	// POST with an Idempotency-Key is retried.
	attempts.Store(0)
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, "http://svc/orders", strings.NewReader("x"))
		req.Header.Set("Idempotency-Key", "k1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("keyed POST: %d", resp.StatusCode)
		}
	}
	// Connection refused: retried elsewhere; all endpoints dead: error.
	ss[0].Kill()
	ss[0].SetFailEvery(0)
	ss[1].SetFailEvery(0)
	for range 4 {
		if resp, _ := get(t, c, "http://svc/x", nil); resp.StatusCode != 200 {
			t.Fatalf("GET with one dead endpoint: %d", resp.StatusCode)
		}
	}
	ss[1].Kill()
	if _, err := c.Get("http://svc/x"); err == nil {
		t.Fatal("GET with every endpoint dead succeeded")
	}
	empty := newBalancer(t, nil, nil)
	c2 := &http.Client{Transport: &lb.Transport{Balancer: empty}}
	if _, err := c2.Get("http://svc/x"); !errors.Is(err, lb.ErrNoEndpoint) {
		t.Fatalf("empty balancer: %v", err)
	}
	if _, err := (&http.Client{Transport: &lb.Transport{}}).Get("http://svc/x"); err == nil {
		t.Fatal("Transport without Balancer worked")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTransportKillMidRun: a smart client over three servers, one killed
// while requests are in flight: no GET is lost.
func TestTransportKillMidRun(t *testing.T) {
	ss, eps := servers(t, "a", "b", "c")
	for _, s := range ss {
		s.SetDelay(2 * time.Millisecond)
	}
	bal := newBalancer(t, eps, &lb.Options{Policy: lb.LeastResponseTime(nil),
		Outlier: &lb.OutlierOptions{ConsecutiveFailures: 2}})
	c := &http.Client{Transport: &lb.Transport{Balancer: bal}}
	var failed, sent atomic.Int64
	midRun := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if sent.Add(1) == 90 {
					close(midRun)
				}
				resp, err := c.Get("http://svc/x")
				if err != nil {
					t.Error(err)
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	<-midRun
	ss[1].Kill()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 300 GETs lost", failed.Load())
	}
}

func TestTCPProxy(t *testing.T) {
	a, b := lbtest.NewTCPServer(t, "a"), lbtest.NewTCPServer(t, "b")
	bal := newBalancer(t, []lb.Endpoint{{Addr: a.Addr()}, {Addr: b.Addr()}}, &lb.Options{Policy: lb.LeastConn(nil),
		DrainTimeout: 200 * time.Millisecond})
	p := lb.NewTCPProxy(bal, &lb.TCPProxyOptions{ConnectTimeout: time.Second})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(l) }()
	dial := func() (net.Conn, *lineReader) {
		t.Helper()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c, &lineReader{c: c}
	}
	// Least connections: two held connections land on different servers.
	// The first connection is through to its server (its echo came back)
	// before the second is dialed, so the second pick sees it in flight.
	c1, r1 := dial()
	n1 := echo(t, c1, r1, "hi")
	c2, r2 := dial()
	n2 := echo(t, c2, r2, "hi")
	if n1[:1] == n2[:1] {
		t.Fatalf("two concurrent connections both went to %q", n1[:1])
	}
	// Draining: remove the endpoint of c1; c1 keeps working until the
	// drain deadline, then it is closed; new connections avoid it.
	gone := a.Addr()
	if n1[:1] == "b" {
		gone = b.Addr()
	}
	_ = bal.SetEndpoints([]lb.Endpoint{{Addr: map[string]string{a.Addr(): b.Addr(), b.Addr(): a.Addr()}[gone]}})
	if got := echo(t, c1, r1, "still"); got != n1[:1]+": still" {
		t.Fatalf("draining connection answered %q", got)
	}
	c3, r3 := dial()
	if got := echo(t, c3, r3, "new"); got[:1] == n1[:1] {
		t.Fatal("new connection went to the draining endpoint")
	}
	_ = c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r1.line(); err == nil {
		t.Fatal("draining connection still open after the drain deadline")
	}
	c2.Close()
	c3.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, lb.ErrClosed) {
		t.Fatalf("Serve returned %v, want ErrClosed", err)
	}
}

// TestTCPProxyKillMidRun: connections opened after a server dies all go
// through (failed connects are retried on another endpoint). Connections
// open on the dead server at the moment it dies are cut: an L4 proxy
// cannot replay bytes it already forwarded, so clients reconnect.
func TestTCPProxyKillMidRun(t *testing.T) {
	var srv []*lbtest.TCPServer
	var eps []lb.Endpoint
	for _, n := range []string{"a", "b", "c"} {
		s := lbtest.NewTCPServer(t, n)
		srv = append(srv, s)
		eps = append(eps, lb.Endpoint{Addr: s.Addr()})
	}
	bal := newBalancer(t, eps, &lb.Options{Policy: lb.RoundRobin(), Outlier: &lb.OutlierOptions{ConsecutiveFailures: 1}})
	p := lb.NewTCPProxy(bal, &lb.TCPProxyOptions{ConnectTimeout: time.Second})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = p.Serve(l) }()
	var cut, lost atomic.Int64
	midRun := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				if sent.Add(1) == 60 {
					close(midRun)
				}
				// One request per connection; a cut connection is retried
				// once by the client, as an idempotent client would.
				ok := false
				for try := 0; try < 2 && !ok; try++ {
					c, err := net.Dial("tcp", l.Addr().String())
					if err != nil {
						continue
					}
					_ = c.SetDeadline(time.Now().Add(5 * time.Second))
					r := &lineReader{c: c}
					if _, err := c.Write([]byte("ping\n")); err == nil {
						if s, err := r.line(); err == nil && strings.HasSuffix(s, ": ping") {
							ok = true
						}
					}
					c.Close()
					if !ok {
						cut.Add(1)
					}
				}
				if !ok {
					lost.Add(1)
				}
			}
		}()
	}
	<-midRun
	srv[0].Kill()
	wg.Wait()
	if lost.Load() != 0 {
		t.Fatalf("%d of 240 requests lost (%d connections cut)", lost.Load(), cut.Load())
	}
	t.Logf("%d connections cut by the kill, all retried successfully", cut.Load())

	// Close cuts open connections at once and stops Serve.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, &lineReader{c: c}, "open")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection open after Close")
	}
	if err := p.Serve(l); !errors.Is(err, lb.ErrClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

type lineReader struct {
	c   net.Conn
	buf []byte
}

func (r *lineReader) line() (string, error) {
	tmp := make([]byte, 256)
	for {
		if i := bytes.IndexByte(r.buf, '\n'); i >= 0 {
			s := string(r.buf[:i])
			r.buf = r.buf[i+1:]
			return s, nil
		}
		n, err := r.c.Read(tmp)
		r.buf = append(r.buf, tmp[:n]...)
		if err != nil {
			return "", err
		}
	}
}

func echo(t *testing.T, c net.Conn, r *lineReader, msg string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		t.Fatal(err)
	}
	s, err := r.line()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTransportClosesIdleConnectionsOfRemovedEndpoints(t *testing.T) {
	ss, eps := servers(t, "a", "b")
	bal := newBalancer(t, eps, nil)
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	c := &http.Client{Transport: &lb.Transport{Balancer: bal, Base: base}}
	for range 4 {
		get(t, c, "http://svc/x", nil)
	}
	if ss[0].Conns() != 1 || ss[1].Conns() != 1 {
		t.Fatalf("keep-alive connections a=%d b=%d, want 1 each", ss[0].Conns(), ss[1].Conns())
	}
	_ = bal.SetEndpoints(eps[1:])
	get(t, c, "http://svc/x", nil)
	// The server notices the close asynchronously: poll with a deadline.
	deadline := time.Now().Add(5 * time.Second)
	// The remaining endpoint's old idle connection was closed too (the
	// transport drops all idle connections at once) and the call opened a
	// new one: wait until the server has seen that close as well.
	for ss[0].Conns() != 0 || ss[1].Conns() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("removed endpoint still has %d connections from the client, remaining one %d", ss[0].Conns(), ss[1].Conns())
		}
		time.Sleep(time.Millisecond)
	}
	// Without further removals, connections are reused again. net/http
	// returns a connection to its idle pool just after the body's EOF, so a
	// request sent in that instant may open one more: allow two, not one
	// per request.
	for range 4 {
		get(t, c, "http://svc/x", nil)
	}
	if n := ss[1].Conns(); n > 2 {
		t.Fatalf("remaining endpoint has %d connections after 5 requests, want them reused (≤ 2)", n)
	}
}

func TestTCPProxyConnectTimeout(t *testing.T) {
	good := lbtest.NewTCPServer(t, "good")
	const blackhole = "192.0.2.1:9" // TEST-NET-1: never answers
	ev := newEvents()
	bal := newBalancer(t, []lb.Endpoint{{Addr: blackhole}, {Addr: good.Addr()}}, &lb.Options{
		Policy: lb.RoundRobin(), OnEvent: ev.on, Outlier: &lb.OutlierOptions{ConsecutiveFailures: 1}})
	var d net.Dialer
	var timedOut atomic.Int32
	p := lb.NewTCPProxy(bal, &lb.TCPProxyOptions{ConnectTimeout: 50 * time.Millisecond,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == blackhole { // a SYN into the void: wait for the timeout
				<-ctx.Done()
				timedOut.Add(1)
				return nil, ctx.Err()
			}
			return d.DialContext(ctx, network, addr)
		}})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = p.Serve(l) }()
	defer p.Close()
	for range 4 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if got := echo(t, c, &lineReader{c: c}, "x"); got != "good: x" {
			t.Fatalf("answer %q", got)
		}
		c.Close()
	}
	if timedOut.Load() != 1 {
		t.Fatalf("%d connects timed out, want 1 (then the endpoint is ejected)", timedOut.Load())
	}
	ev.wait(t, lb.EventEjected, blackhole)
}
