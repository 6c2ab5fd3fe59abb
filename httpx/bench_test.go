package httpx_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/httpx"
)

// discardWriter is a reusable ResponseWriter, so benchmarks measure the
// middleware and not a recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

var benchBody = []byte(`{"id":42,"name":"widget","price":1999}` + "\n")

var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(benchBody)
})

func benchServe(b *testing.B, h http.Handler) {
	b.Helper()
	r := httptest.NewRequest(http.MethodGet, "/items/42", nil)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Encoding", "gzip")
	w := &discardWriter{h: make(http.Header, 8)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	if w.status != 0 && w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
}

// benchServeParallel is benchServe from GOMAXPROCS goroutines.
func benchServeParallel(b *testing.B, h http.Handler) {
	b.Helper()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest(http.MethodGet, "/items/42", nil)
		r.Header.Set("Accept-Encoding", "gzip")
		w := &discardWriter{h: make(http.Header, 8)}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
	})
}

// BenchmarkStack compares a bare handler with the same handler behind
// DefaultStack (request ID, telemetry with no SDK installed, JSON access
// log to io.Discard, recovery, 30s timeout, 1 MiB body limit, compression
// negotiation of a body below the compression threshold), and with the
// access log disabled by level.
func BenchmarkStack(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchServe(b, benchHandler) })
	b.Run("default", func(b *testing.B) {
		lg := slog.New(slog.NewJSONHandler(io.Discard, nil))
		benchServe(b, httpx.DefaultStack(&httpx.StackOptions{Logger: lg})(benchHandler))
	})
	b.Run("default-log-off", func(b *testing.B) {
		lg := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
		benchServe(b, httpx.DefaultStack(&httpx.StackOptions{Logger: lg})(benchHandler))
	})
	b.Run("default-parallel", func(b *testing.B) {
		lg := slog.New(slog.NewJSONHandler(io.Discard, nil))
		benchServeParallel(b, httpx.DefaultStack(&httpx.StackOptions{Logger: lg})(benchHandler))
	})
}

// BenchmarkMiddleware measures each middleware alone around the bare
// handler.
func BenchmarkMiddleware(b *testing.B) {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, c := range []struct {
		name string
		mw   httpx.Middleware
	}{
		{"RequestID", httpx.RequestID(nil)},
		{"Telemetry", httpx.Telemetry(nil)},
		{"AccessLog", httpx.AccessLog(quiet, nil)},
		{"Recover", httpx.Recover(nil)},
		{"Timeout", httpx.Timeout(30e9, nil)},
		{"BodyLimit", httpx.BodyLimit(1 << 20)},
		{"Compress", httpx.Compress(nil)},
		{"ETags", httpx.ETags(nil)},
		{"CORS", httpx.CORS(&httpx.CORSOptions{AllowedOrigins: []string{"*"}})},
	} {
		b.Run(c.name, func(b *testing.B) { benchServe(b, c.mw(benchHandler)) })
	}
}

func BenchmarkParseCollection(b *testing.B) {
	spec := &httpx.CollectionSpec{Sortable: []string{"created", "name"}, Fields: []string{"id", "name"},
		Filters: map[string][]string{"status": nil}}
	r := httptest.NewRequest(http.MethodGet, "/items?limit=50&offset=100&sort=-created,name&fields=id,name&status=open", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := httpx.ParseCollection(r, spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStackOverhead measures the bare handler and the stacked one in
// alternating batches within one benchmark, so both see the same machine
// load, and reports bare-ns/op, stack-ns/op, added-ns/op and the ratio.
// (ns/op and allocs/op of this benchmark cover one bare plus one stacked
// request; BenchmarkStack gives the stack's allocations alone.)
func BenchmarkStackOverhead(b *testing.B) {
	for _, c := range []struct {
		name  string
		level slog.Level
	}{{"default", slog.LevelInfo}, {"default-log-off", slog.LevelError}} {
		b.Run(c.name, func(b *testing.B) {
			lg := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: c.level}))
			stacked := httpx.DefaultStack(&httpx.StackOptions{Logger: lg})(benchHandler)
			r := httptest.NewRequest(http.MethodGet, "/items/42", nil)
			r.Header.Set("Accept", "application/json")
			r.Header.Set("Accept-Encoding", "gzip")
			w := &discardWriter{h: make(http.Header, 8)}
			const batch = 256
			var bare, stack, bareCPU, stackCPU time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				n := min(batch, b.N-done)
				t0, c0 := time.Now(), cpuNow()
				for i := 0; i < n; i++ {
					clear(w.h)
					benchHandler.ServeHTTP(w, r)
				}
				t1, c1 := time.Now(), cpuNow()
				for i := 0; i < n; i++ {
					clear(w.h)
					stacked.ServeHTTP(w, r)
				}
				t2, c2 := time.Now(), cpuNow()
				bare += t1.Sub(t0)
				stack += t2.Sub(t1)
				bareCPU += c1 - c0
				stackCPU += c2 - c1
			}
			n := float64(b.N)
			b.ReportMetric(float64(bare.Nanoseconds())/n, "bare-ns/op")
			b.ReportMetric(float64(stack.Nanoseconds())/n, "stack-ns/op")
			b.ReportMetric(float64((stack-bare).Nanoseconds())/n, "added-ns/op")
			b.ReportMetric(float64(stack)/float64(bare), "stack/bare")
			// The same split in process CPU time (getrusage), which leaves
			// out time spent waiting for a core on a busy machine; it
			// includes GC work on other threads.
			b.ReportMetric(float64(bareCPU.Nanoseconds())/n, "bare-cpu-ns/op")
			b.ReportMetric(float64((stackCPU-bareCPU).Nanoseconds())/n, "added-cpu-ns/op")
		})
	}
}
