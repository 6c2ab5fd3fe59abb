package lbtest

import (
	"bufio"
	"net"
	"sync"
	"testing"
)

// TCPServer is a real loopback TCP endpoint: for every line a client
// sends it answers "name: line". Kill stops it abruptly.
type TCPServer struct {
	// Name prefixes every answer.
	Name string
	l    net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	killed bool
	wg     sync.WaitGroup
}

// NewTCPServer starts a TCPServer on a loopback port; it is killed at
// cleanup.
func NewTCPServer(t testing.TB, name string) *TCPServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &TCPServer{Name: name, l: l, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Kill)
	return s
}

// Addr returns the server's "host:port".
func (s *TCPServer) Addr() string { return s.l.Addr().String() }

// Conns returns the number of open connections.
func (s *TCPServer) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *TCPServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.killed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				if _, err := c.Write([]byte(s.Name + ": " + sc.Text() + "\n")); err != nil {
					return
				}
			}
		}()
	}
}

// Kill closes the listener and every connection at once. It is idempotent.
func (s *TCPServer) Kill() {
	s.mu.Lock()
	s.killed = true
	_ = s.l.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
