package lbtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is a real loopback HTTP endpoint for end-to-end tests. Every
// response carries its name in the X-Backend header and body; Delay and
// Fail script its behaviour; Kill stops it abruptly, as a crash would.
//
// Paths: "/healthz" answers 200 (or 503 while SetHealthy(false)); any
// other path answers "name path" after the scripted delay.
type Server struct {
	// Name identifies the server in responses.
	Name string
	srv  *httptest.Server

	hits    atomic.Int64
	healthy atomic.Bool
	delay   atomic.Int64 // ns
	failN   atomic.Int64 // fail one in failN requests (0: never)

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	changed chan struct{} // closed and replaced on every hit
}

// NewServer starts a Server on a loopback port; it is killed at cleanup.
func NewServer(t testing.TB, name string) *Server {
	t.Helper()
	s := &Server{Name: name, conns: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	s.healthy.Store(true)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch st {
		case http.StateNew:
			s.conns[c] = struct{}{}
		case http.StateClosed, http.StateHijacked:
			delete(s.conns, c)
		}
	}
	s.srv.Start()
	t.Cleanup(s.Kill)
	return s
}

// Addr returns the server's "host:port".
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// Conns returns the number of open client connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Hits returns the number of non-health requests served.
func (s *Server) Hits() int64 { return s.hits.Load() }

// WaitHits blocks until the server has received n non-health requests
// (counted when they arrive, before the scripted delay) or ctx ends.
func (s *Server) WaitHits(ctx context.Context, n int64) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if s.hits.Load() >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// SetDelay makes every request wait d before answering.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// SetFailEvery makes every n-th request answer 500 (0 turns it off).
func (s *Server) SetFailEvery(n int) { s.failN.Store(int64(n)) }

// SetHealthy sets the answer of /healthz.
func (s *Server) SetHealthy(ok bool) { s.healthy.Store(ok) }

// Kill closes the listener and every open connection at once, without
// finishing requests in flight. It is idempotent.
func (s *Server) Kill() {
	_ = s.srv.Listener.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.srv.Close()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Backend", s.Name)
	if r.URL.Path == "/healthz" {
		if !s.healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		return
	}
	n := s.hits.Add(1)
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if f := s.failN.Load(); f > 0 && n%f == 0 {
		http.Error(w, "scripted failure", http.StatusInternalServerError)
		return
	}
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "True-Client-Ip"} {
		if v := r.Header.Get(k); v != "" {
			w.Header().Set("Echo-"+k, v)
		}
	}
	fmt.Fprintf(w, "%s %s", s.Name, r.URL.Path)
}
