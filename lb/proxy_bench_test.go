package lb_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lb"
)

// BenchmarkProxyLoopback drives lb.ReverseProxy over real loopback TCP with
// keep-alive clients against two trivial backends (1 KiB responses), and,
// interleaved in the same run, the same load through a bare
// httputil.ReverseProxy with a tuned http.Transport (the baseline) and
// straight at a backend (direct: the cost of the client and backend, which
// all three share, since everything runs in this process). b.N requests are
// split over proxyRounds rounds of scalekit, baseline, direct.
//
// Reported per variant: ns/req (wall time per request at that
// concurrency), cpu-µs/req (process CPU from getrusage per request), p99
// in µs, all medians over the rounds; and the scalekit/baseline ratios of
// wall time and of proxy CPU (CPU minus direct's CPU), as median with min
// and max. Run it with a fixed count, for example
//
//	go test -run '^$' -bench ProxyLoopback -benchtime 60000x ./lb/
func BenchmarkProxyLoopback(b *testing.B) {
	for _, conns := range []int{32, 256} {
		b.Run("conns="+strconv.Itoa(conns), func(b *testing.B) { benchProxyLoopback(b, conns) })
	}
}

const proxyRounds = 5

func benchProxyLoopback(b *testing.B, conns int) {
	payload := bytes.Repeat([]byte("x"), 1024)
	be1, be2 := benchBackend(b, payload), benchBackend(b, payload)

	bal, err := lb.New([]lb.Endpoint{{Addr: be1}, {Addr: be2}}, &lb.Options{Name: "bench",
		Policy: lb.LeastResponseTime(nil), Outlier: &lb.OutlierOptions{FailureRate: 0.2}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bal.Close() })
	// As examples/lbproxy configures it.
	sk, err := lb.NewReverseProxy([]lb.Route{{Name: "/", PathPrefix: "/", Balancer: bal}},
		&lb.ProxyOptions{ErrorLog: log.New(io.Discard, "", 0)})
	if err != nil {
		b.Fatal(err)
	}
	variants := []struct {
		name string
		addr string
	}{
		{"scalekit", benchServe(b, sk, "scalekit")},
		{"baseline", benchServe(b, baselineProxy(be1, be2), "baseline")},
		{"direct", be1},
	}
	clients := make([][]*benchConn, len(variants))
	for i, v := range variants {
		clients[i] = dialBench(b, v.addr, conns)
	}
	// Warm up: upstream pools, buffers, EWMA.
	for i := range variants {
		runSegment(b, clients[i], 4*conns, nil)
	}

	per := max(b.N/proxyRounds/len(variants), 1)
	type sample struct{ wall, cpu, p99 float64 }
	res := make([][]sample, len(variants))
	lat := make([]time.Duration, per)
	b.ResetTimer()
	for range proxyRounds {
		for i := range variants {
			c0 := testenv.CPUTime()
			t0 := time.Now()
			runSegment(b, clients[i], per, lat)
			wall := time.Since(t0)
			cpu := testenv.CPUTime() - c0
			slices.Sort(lat)
			res[i] = append(res[i], sample{
				wall: float64(wall.Nanoseconds()) / float64(per),
				cpu:  float64(cpu.Nanoseconds()) / float64(per) / 1e3,
				p99:  float64(lat[len(lat)*99/100].Nanoseconds()) / 1e3,
			})
		}
	}
	b.StopTimer()
	med := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[len(s)/2]
	}
	for i, v := range variants {
		var w, c, p []float64
		for _, s := range res[i] {
			w, c, p = append(w, s.wall), append(c, s.cpu), append(p, s.p99)
		}
		b.ReportMetric(med(w), v.name+"-ns/req")
		b.ReportMetric(med(c), v.name+"-cpu-µs/req")
		b.ReportMetric(med(p), v.name+"-p99-µs")
	}
	var wr, cr, pr []float64
	for r := range proxyRounds {
		sk, base, direct := res[0][r], res[1][r], res[2][r]
		wr = append(wr, sk.wall/base.wall)
		cr = append(cr, (sk.cpu-direct.cpu)/max(base.cpu-direct.cpu, 0.01))
		pr = append(pr, sk.p99/base.p99)
	}
	b.ReportMetric(med(wr), "sk/base-time")
	b.ReportMetric(slices.Min(wr), "sk/base-time-min")
	b.ReportMetric(slices.Max(wr), "sk/base-time-max")
	b.ReportMetric(med(cr), "sk/base-proxycpu")
	b.ReportMetric(slices.Min(cr), "sk/base-proxycpu-min")
	b.ReportMetric(slices.Max(cr), "sk/base-proxycpu-max")
	b.ReportMetric(med(pr), "sk/base-p99")
}

// baselineProxy is a plain httputil.ReverseProxy with a tuned Transport,
// alternating between two backends.
func baselineProxy(be1, be2 string) http.Handler {
	tr := &http.Transport{
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	targets := []*url.URL{{Scheme: "http", Host: be1}, {Scheme: "http", Host: be2}}
	var n atomic.Uint64
	return &httputil.ReverseProxy{
		Transport:  tr,
		BufferPool: &benchBufPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}},
		ErrorLog:   log.New(io.Discard, "", 0),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(targets[n.Add(1)&1])
			pr.SetXForwarded()
		},
	}
}

type benchBufPool struct{ p sync.Pool }

func (p *benchBufPool) Get() []byte  { return *(p.p.Get().(*[]byte)) }
func (p *benchBufPool) Put(b []byte) { p.p.Put(&b) }

func benchBackend(b *testing.B, payload []byte) string {
	clen := []string{strconv.Itoa(len(payload))}
	ctype := []string{"text/plain"}
	return benchServe(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Length"] = clen
		w.Header()["Content-Type"] = ctype
		_, _ = w.Write(payload)
	}), "backend")
}

// benchServe serves h on a loopback port. Its goroutines carry the pprof
// label variant=name (inherited from the Serve goroutine), so that
// `go tool pprof -tagfocus variant=scalekit` splits the CPU profile.
func benchServe(b *testing.B, h http.Handler, name string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, IdleTimeout: 5 * time.Minute}
	go pprof.Do(context.Background(), pprof.Labels("variant", name), func(context.Context) { _ = srv.Serve(ln) })
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// benchConn is one keep-alive client connection speaking minimal HTTP/1.1.
type benchConn struct {
	c  net.Conn
	br *bufio.Reader
}

var benchRequest = []byte("GET /bench HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: lbbench\r\n\r\n")

func dialBench(b *testing.B, addr string, n int) []*benchConn {
	out := make([]*benchConn, n)
	for i := range out {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		out[i] = &benchConn{c: c, br: bufio.NewReaderSize(c, 16<<10)}
	}
	return out
}

// runSegment sends n requests over the connections, all busy at once, and
// records each latency into lat (when not nil, len(lat) == n).
func runSegment(b *testing.B, conns []*benchConn, n int, lat []time.Duration) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t0 := time.Now()
				if _, err := c.c.Write(benchRequest); err != nil {
					failed.Store(err)
					return
				}
				if err := benchRead(c.br); err != nil {
					failed.Store(err)
					return
				}
				if lat != nil {
					lat[i] = time.Since(t0)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// benchRead reads one 200 response with a Content-Length body.
func benchRead(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
		return fmt.Errorf("status %q", line)
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
		if len(line) > 16 && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			n, err = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return err
			}
		}
	}
	if n < 0 {
		return errors.New("no Content-Length")
	}
	_, err = br.Discard(n)
	return err
}

// BenchmarkProxyOverhead isolates what lb.ReverseProxy adds to
// httputil.ReverseProxy: both forward to a RoundTripper that answers at
// once from memory (no network, no backend), so ns/op and allocs/op are
// the proxies' own work per request. "scalekit" is configured as
// examples/lbproxy does (P2C, outlier detection, two endpoints);
// "baseline" is a bare httputil.ReverseProxy.
func BenchmarkProxyOverhead(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 1024)
	rt := cannedRT(payload)
	bal, err := lb.New([]lb.Endpoint{{Addr: "10.0.0.1:80"}, {Addr: "10.0.0.2:80"}}, &lb.Options{Name: "bench",
		Policy: lb.LeastResponseTime(nil), Outlier: &lb.OutlierOptions{FailureRate: 0.2}})
	if err != nil {
		b.Fatal(err)
	}
	defer bal.Close()
	sk, err := lb.NewReverseProxy([]lb.Route{{Name: "/", PathPrefix: "/", Balancer: bal}},
		&lb.ProxyOptions{Transport: rt, ErrorLog: log.New(io.Discard, "", 0)})
	if err != nil {
		b.Fatal(err)
	}
	base := baselineProxy("10.0.0.1:80", "10.0.0.2:80").(*httputil.ReverseProxy)
	base.Transport = rt
	for _, v := range []struct {
		name string
		h    http.Handler
	}{{"scalekit", sk}, {"baseline", base}} {
		b.Run(v.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, "http://bench.local/bench", nil)
			req.RemoteAddr = "203.0.113.7:50000"
			req.Header.Set("User-Agent", "lbbench")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				v.h.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

type cannedRT []byte

func (c cannedRT) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"1024"}},
		ContentLength: int64(len(c)), Body: io.NopCloser(bytes.NewReader(c)), Request: req}, nil
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
