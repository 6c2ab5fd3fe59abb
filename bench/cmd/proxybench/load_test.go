package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	br := bufio.NewReader(strings.NewReader(ok))
	for i := 0; i < 2; i++ {
		if err := readResponse(br); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
	}
	for name, in := range map[string]string{
		"status":    "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
		"no length": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"short":     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"bad len":   "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
	} {
		if err := readResponse(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name == "status" && !errors.Is(err, errStatus) {
			t.Errorf("status: %v", err)
		}
	}
}

// TestLoadAgainstBackend drives a backend directly: every request is
// answered, latencies are recorded, and the backend counts exactly the
// client connections.
func TestLoadAgainstBackend(t *testing.T) {
	b := startBackend(bytes.Repeat([]byte("y"), 100))
	m := load(b.addr, 4, 200*time.Millisecond, &measure{})
	if m.reqs == 0 || m.errs != 0 || int64(len(m.lat)) != m.reqs {
		t.Fatalf("reqs %d errs %d latencies %d", m.reqs, m.errs, len(m.lat))
	}
	if n := b.accepts.Load(); n != 4 {
		t.Fatalf("backend accepted %d connections, want 4 (keep-alive)", n)
	}
	m.newConns = 4
	r := m.result()
	if r.rps <= 0 || r.p50 <= 0 || r.p99 < r.p50 || r.newPer10k <= 0 {
		t.Fatalf("result %+v", r)
	}
}

// TestCPUOfProcessGroup reads this test's own process group's CPU time.
func TestCPUOfProcessGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc: proxybench needs Linux")
	}
	p := &proxy{pgid: syscall.Getpgrp()}
	spin := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(spin) {
	}
	if got := p.cpu(); got <= 0 {
		t.Fatalf("cpu = %v", got)
	}
}
