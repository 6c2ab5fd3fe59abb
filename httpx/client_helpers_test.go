package httpx

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scalekit-go/scalekit/clock"
)

// clientScript is an httptest backend whose n-th answer (0-based) is given
// by a script; it records hits and request bodies.
type clientScript struct {
	srv    *httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	bodies []string
}

// clientStep answers one request; returning false from the handler means
// "fall through to 200 ok".
type clientStep func(w http.ResponseWriter, r *http.Request)

func clientStatus(code int, header ...string) clientStep {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}
}

// clientHangup closes the connection without answering.
func clientHangup(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// clientNewScript starts a backend answering with steps in order, then
// with the last step forever (200 "ok" when steps is empty).
func clientNewScript(t testing.TB, steps ...clientStep) *clientScript {
	t.Helper()
	s := &clientScript{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.hits.Add(1) - 1
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		switch {
		case len(steps) == 0:
			_, _ = io.WriteString(w, "ok")
		case int(n) < len(steps):
			steps[n](w, r)
		default:
			steps[len(steps)-1](w, r)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *clientScript) URL() string { return s.srv.URL }

func (s *clientScript) Bodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// clientBodyTracker wraps a transport and counts response bodies opened and
// closed, to check that discarded attempts are closed.
type clientBodyTracker struct {
	next   http.RoundTripper
	opened atomic.Int64
	closed atomic.Int64
}

func (c *clientBodyTracker) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if resp != nil {
		c.opened.Add(1)
		resp.Body = &clientTrackedBody{ReadCloser: resp.Body, c: c}
	}
	return resp, err
}

type clientTrackedBody struct {
	io.ReadCloser
	c    *clientBodyTracker
	once sync.Once
}

func (b *clientTrackedBody) Close() error {
	b.once.Do(func() { b.c.closed.Add(1) })
	return b.ReadCloser.Close()
}

// clientRTFunc adapts a function to http.RoundTripper in tests.
type clientRTFunc func(*http.Request) (*http.Response, error)

func (f clientRTFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// clientAutoAdvance moves fake time forward by step whenever something is
// parked on it, until the test ends: for tests that care about outcomes,
// not exact waits.
func clientAutoAdvance(t testing.TB, f *clock.Fake, step time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f.BlockUntil(ctx, 1) == nil {
			f.Advance(step)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// clientMetrics returns a meter provider and a function collecting the
// int64 sum or gauge points of one metric, keyed by an attribute.
func clientMetrics(t testing.TB) (*sdkmetric.MeterProvider, func(name, attr string) map[string]int64) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, func(name, attr string) map[string]int64 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != name {
					continue
				}
				var pts []metricdata.DataPoint[int64]
				switch d := m.Data.(type) {
				case metricdata.Sum[int64]:
					pts = d.DataPoints
				case metricdata.Gauge[int64]:
					pts = d.DataPoints
				}
				for _, p := range pts {
					v, _ := p.Attributes.Value(attribute.Key(attr))
					out[v.Emit()] += p.Value
				}
			}
		}
		return out
	}
}

// clientGet sends a GET through rt and returns status and body.
func clientGet(ctx context.Context, t testing.TB, rt http.RoundTripper, url string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
