package lb_test

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lb"
)

// silentBackend accepts connections, reads each to EOF and then neither
// writes nor closes: the backend that used to pin half-closed connections
// (and Close) for ever. eofs receives one value per connection that saw
// the client's EOF.
type silentBackend struct {
	l     net.Listener
	eofs  chan struct{}
	mu    sync.Mutex
	conns []net.Conn
}

func newSilentBackend(t *testing.T) *silentBackend {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentBackend{l: l, eofs: make(chan struct{}, 1024)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() {
				_, _ = io.Copy(io.Discard, c)
				s.eofs <- struct{}{}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			_ = c.Close()
		}
	})
	return s
}

// startTCPProxy serves p on a loopback listener.
func startTCPProxy(t *testing.T, p *lb.TCPProxy) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Serve(l) }()
	return l.Addr().String()
}

// halfCloseClients dials n clients through addr, sends a line and
// half-closes each, waiting until the backend saw every EOF.
func halfCloseClients(t *testing.T, addr string, n int, be *silentBackend) []net.Conn {
	var cs []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		_, _ = c.Write([]byte("request\n"))
		_ = c.(*net.TCPConn).CloseWrite()
	}
	t.Cleanup(func() {
		for _, c := range cs {
			_ = c.Close()
		}
	})
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case <-be.eofs:
		case <-timeout:
			t.Fatal("backend did not see every client's EOF")
		}
	}
	return cs
}

// waitGoroutines polls until the goroutine count is back to at most base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, want at most %d", runtime.NumGoroutine(), base)
		}
		time.Sleep(5 * time.Millisecond) // polling for goroutines to exit
	}
}

// TestTCPProxyCloseWithHalfClosedClients (issue 10 item 12): 50 clients
// half-close against a silent backend; Close returns promptly and every
// goroutine the proxy started is gone.
func TestTCPProxyCloseWithHalfClosedClients(t *testing.T) {
	be := newSilentBackend(t)
	base := runtime.NumGoroutine() + 2 // the backend's accept loop and proxy's Serve may still be here
	bal := newBalancer(t, []lb.Endpoint{{Addr: be.l.Addr().String()}}, nil)
	p := lb.NewTCPProxy(bal, nil)
	addr := startTCPProxy(t, p)
	halfCloseClients(t, addr, 50, be)
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on half-closed connections")
	}
	waitGoroutines(t, base+50) // the backend's 50 readers stay (it is silent)
}

// TestTCPProxyHalfCloseAndIdleTimeouts (issue 10 item 12): a connection
// the client half-closed is ended when the backend stays silent for
// HalfCloseTimeout; one with no traffic at all after IdleTimeout.
func TestTCPProxyHalfCloseAndIdleTimeouts(t *testing.T) {
	be := newSilentBackend(t)
	bal := newBalancer(t, []lb.Endpoint{{Addr: be.l.Addr().String()}}, nil)
	p := lb.NewTCPProxy(bal, &lb.TCPProxyOptions{HalfCloseTimeout: 50 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { _ = p.Close() })
	addr := startTCPProxy(t, p)
	for _, c := range halfCloseClients(t, addr, 20, be) {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("half-closed connection: %v, want EOF from the proxy's close", err)
		}
	}
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	start := time.Now()
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("idle connection closed after %v, before IdleTimeout", d)
	}
}

// TestTCPProxyConnectionCap (issue 10 item 12): connections beyond
// MaxConns are refused at once and reported.
func TestTCPProxyConnectionCap(t *testing.T) {
	be := newSilentBackend(t)
	bal := newBalancer(t, []lb.Endpoint{{Addr: be.l.Addr().String()}}, nil)
	errs := make(chan error, 16)
	p := lb.NewTCPProxy(bal, &lb.TCPProxyOptions{MaxConns: 2, OnError: func(err error) { errs <- err }})
	t.Cleanup(func() { _ = p.Close() })
	addr := startTCPProxy(t, p)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write([]byte("x"))
		held = append(held, c)
	}
	for p.Conns() < 2 {
		time.Sleep(time.Millisecond) // polling until both are counted
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection over MaxConns was served")
	}
	select {
	case err := <-errs:
		if !errors.Is(err, lb.ErrTooManyConns) {
			t.Fatalf("reported %v, want ErrTooManyConns", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("refusal not reported")
	}
	_ = held
}

// TestTCPProxyBrokenPipeIsAnError (issue 10 item 12): a backend that
// resets the connection mid-stream is reported as an error, not as a
// successful connection.
func TestTCPProxyBrokenPipeIsAnError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = c.Read(make([]byte, 16))
				_ = c.(*net.TCPConn).SetLinger(0) // close with RST
				_ = c.Close()
			}()
		}
	}()
	bal := newBalancer(t, []lb.Endpoint{{Addr: l.Addr().String()}}, nil)
	errs := make(chan error, 16)
	p := lb.NewTCPProxy(bal, &lb.TCPProxyOptions{OnError: func(err error) { errs <- err }})
	t.Cleanup(func() { _ = p.Close() })
	c, err := net.Dial("tcp", startTCPProxy(t, p))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("hello\n"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, c)
	select {
	case err := <-errs:
		var pe *lb.ProxyError
		if !errors.As(err, &pe) || pe.Side != "upstream" {
			t.Fatalf("reported %v, want an upstream *ProxyError", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reset connection reported as a success")
	}
}
