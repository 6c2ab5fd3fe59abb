package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// measure collects one measured run.
type measure struct {
	mu       sync.Mutex
	lat      []time.Duration
	reqs     int64
	errs     int64
	elapsed  time.Duration
	cpu      time.Duration
	newConns int64
}

type key struct {
	name, mode string
	conns      int
}

type result struct {
	rps, cpuPerReq, newPer10k float64 // cpuPerReq in µs
	p50, p99                  time.Duration
	errs                      int64
}

func (r result) String() string {
	return fmt.Sprintf("%.0f req/s, p50 %v, p99 %v, %.1f µs CPU/req, %.1f new upstream conns/10k, %d errors",
		r.rps, r.p50, r.p99, r.cpuPerReq, r.newPer10k, r.errs)
}

func (m *measure) result() result {
	slices.Sort(m.lat)
	pct := func(p float64) time.Duration {
		if len(m.lat) == 0 {
			return 0
		}
		return m.lat[min(len(m.lat)-1, int(p*float64(len(m.lat))))]
	}
	r := result{p50: pct(0.50), p99: pct(0.99), errs: m.errs}
	if m.reqs > 0 {
		r.rps = float64(m.reqs) / m.elapsed.Seconds()
		r.cpuPerReq = float64(m.cpu.Microseconds()) / float64(m.reqs)
		r.newPer10k = float64(m.newConns) * 1e4 / float64(m.reqs)
	}
	return r
}

// request is what every client sends: HTTP/1.1 with keep-alive.
var request = []byte("GET /bench HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: proxybench\r\n\r\n")

// load runs conns keep-alive clients against addr for d. With m nil it
// only warms up.
func load(addr string, conns int, d time.Duration, m *measure) *measure {
	if m == nil {
		m = &measure{}
	}
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			var reqs, errs int64
			var c net.Conn
			var br *bufio.Reader
			for time.Now().Before(deadline) {
				if c == nil {
					var err error
					c, err = net.DialTimeout("tcp", addr, 5*time.Second)
					if err != nil {
						errs++
						time.Sleep(10 * time.Millisecond) // back off before redialling
						continue
					}
					br = bufio.NewReaderSize(c, 16<<10)
				}
				t0 := time.Now()
				_ = c.SetDeadline(t0.Add(10 * time.Second))
				if _, err := c.Write(request); err != nil {
					errs++
					c.Close()
					c = nil
					continue
				}
				if err := readResponse(br); err != nil {
					errs++
					c.Close()
					c = nil
					continue
				}
				lat = append(lat, time.Since(t0))
				reqs++
			}
			if c != nil {
				c.Close()
			}
			m.mu.Lock()
			m.lat = append(m.lat, lat...)
			m.reqs += reqs
			m.errs += errs
			m.mu.Unlock()
		}()
	}
	wg.Wait()
	m.elapsed = time.Since(start)
	return m
}

var errStatus = errors.New("non-200 status")

// readResponse reads one HTTP/1.1 response with a Content-Length body.
func readResponse(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
		return fmt.Errorf("%w: %q", errStatus, strings.TrimSpace(string(line)))
	}
	n := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 15 && (line[0] == 'C' || line[0] == 'c') &&
			strings.EqualFold(string(line[:15]), "content-length:") {
			n, err = strconv.Atoi(strings.TrimSpace(string(line[15:])))
			if err != nil {
				return err
			}
		}
	}
	if n < 0 {
		return errors.New("response without Content-Length")
	}
	_, err = br.Discard(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
