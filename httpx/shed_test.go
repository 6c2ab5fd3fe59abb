package httpx_test

import (
	"context"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/httpx"
)

func TestAdaptiveLimiterPriorityShares(t *testing.T) {
	l := httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Initial: 10, Algorithm: &httpx.AIMD{}})
	ctx := context.Background()
	count := func(p httpx.Priority) (n int, toks []httpx.Token) {
		for {
			tok, ok := l.Acquire(ctx, p)
			if !ok {
				return n, toks
			}
			n++
			toks = append(toks, tok)
			if n > 100 {
				return n, toks
			}
		}
	}
	low, lt := count(httpx.Low)
	normal, nt := count(httpx.Normal)
	high, ht := count(httpx.High)
	// Shares are 0.7, 0.9, 1.0 of 10: Low stops at 7 in flight, Normal
	// at 9, High at 10; Critical is never refused.
	if low != 7 || normal != 2 || high != 1 {
		t.Fatalf("admitted low %d, normal %d, high %d; want 7, 2, 1", low, normal, high)
	}
	for i := 0; i < 50; i++ {
		if _, ok := l.Acquire(ctx, httpx.Critical); !ok {
			t.Fatal("critical request refused")
		}
	}
	if l.InFlight() != 60 {
		t.Fatalf("in flight %d", l.InFlight())
	}
	for _, tok := range append(append(lt, nt...), ht...) {
		tok.Release()
	}
	var zero httpx.Token
	zero.Release() // no-op
}

func TestAIMD(t *testing.T) {
	a := &httpx.AIMD{Threshold: 50 * time.Millisecond, Backoff: 0.5}
	if got := a.Update(10, 10*time.Millisecond, 6, false); got != 11 {
		t.Fatalf("busy fast sample: %v", got)
	}
	if got := a.Update(10, 10*time.Millisecond, 1, false); got != 10 {
		t.Fatalf("idle fast sample: %v", got)
	}
	if got := a.Update(10, 60*time.Millisecond, 6, false); got != 5 {
		t.Fatalf("slow sample: %v", got)
	}
	if got := a.Update(10, time.Millisecond, 6, true); got != 5 {
		t.Fatalf("dropped: %v", got)
	}
}

func TestAdaptiveLimiterAdaptsWithFakeClock(t *testing.T) {
	for _, tc := range []struct {
		name string
		alg  httpx.LimitAlgorithm
	}{{"aimd", &httpx.AIMD{Threshold: 100 * time.Millisecond}}, {"gradient", &httpx.Gradient{}}} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(time.Unix(0, 0))
			l := httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Initial: 20, Min: 2, Max: 200, Algorithm: tc.alg, Clock: clk})
			ctx := context.Background()
			round := func(n int, rtt time.Duration) {
				var toks []httpx.Token
				for i := 0; i < n; i++ {
					if tok, ok := l.Acquire(ctx, httpx.High); ok {
						toks = append(toks, tok)
					}
				}
				clk.Advance(rtt)
				for _, tok := range toks {
					tok.Release()
				}
			}
			// Saturated with fast responses: the limit grows.
			for i := 0; i < 30; i++ {
				round(int(l.Limit())+5, 10*time.Millisecond)
			}
			grown := l.Limit()
			if grown <= 20 {
				t.Fatalf("limit did not grow under fast saturated load: %v", grown)
			}
			// Latency rises tenfold: the limit shrinks.
			for i := 0; i < 30; i++ {
				round(int(l.Limit())+5, 500*time.Millisecond)
			}
			if l.Limit() >= grown*0.8 {
				t.Fatalf("limit %v did not shrink from %v when latency rose", l.Limit(), grown)
			}
			if l.Limit() < 2 || l.Limit() > 200 {
				t.Fatalf("limit %v outside [2, 200]", l.Limit())
			}
		})
	}
}

type nanAlg struct{}

func (nanAlg) Update(float64, time.Duration, int, bool) float64 { return math.NaN() }

func TestAdaptiveLimiterClampsAlgorithm(t *testing.T) {
	l := httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Initial: 5, Min: 3, Max: 4, Algorithm: nanAlg{}})
	if l.Limit() != 4 {
		t.Fatalf("initial clamped to %v", l.Limit())
	}
	tok, _ := l.Acquire(context.Background(), httpx.Normal)
	tok.Drop()
	if l.Limit() != 3 {
		t.Fatalf("NaN update gave %v, want Min", l.Limit())
	}
}

func TestShedMiddleware(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	l := httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Initial: 2, Min: 2, Max: 2, MeterProvider: mp})
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	h := httpx.Shed(l, &httpx.ShedOptions{RetryAfter: 2 * time.Second})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	var wg sync.WaitGroup
	codes := make(chan int, 10)
	for i := 0; i < 2; i++ { // fill the limit with High requests
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := get("/work")
			codes <- serve(h, r.WithContext(httpx.WithPriority(r.Context(), httpx.High))).Code
		}()
		<-entered
	}
	w := serve(h, get("/work"))
	problemOf(t, w, http.StatusServiceUnavailable)
	if w.Header().Get("Retry-After") != "2" {
		t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
	}
	// Health probes are critical: admitted while saturated.
	wg.Add(1)
	go func() { defer wg.Done(); codes <- serve(h, get("/healthz")).Code }()
	<-entered
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("admitted request answered %d", c)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var shed int64
	var limit float64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if m.Name == "scalekit.httpx.shed" {
					for _, p := range d.DataPoints {
						shed += p.Value
					}
				}
			case metricdata.Gauge[float64]:
				if m.Name == "scalekit.httpx.concurrency_limit" {
					limit = d.DataPoints[0].Value
				}
			}
		}
	}
	if shed != 1 || limit != 2 {
		t.Fatalf("metrics: shed %d, limit %v", shed, limit)
	}
}

func TestDefaultPriority(t *testing.T) {
	for path, want := range map[string]httpx.Priority{"/healthz": httpx.Critical, "/readyz/": httpx.Critical, "/livez": httpx.Critical, "/x": httpx.Normal} {
		if got := httpx.DefaultPriority(get(path)); got != want {
			t.Errorf("%s: %v", path, got)
		}
	}
	r := get("/x")
	r = r.WithContext(httpx.WithPriority(r.Context(), httpx.Low))
	if httpx.DefaultPriority(r) != httpx.Low {
		t.Fatal("context priority ignored")
	}
}

// TestShedSeesInnerTimeout (issue 10 item 18): a request whose deadline,
// set by the Timeout middleware inside Shed (DefaultStack's order), passed
// is congestion: the limiter must see it dropped even when the handler
// answered something other than 503.
func TestShedSeesInnerTimeout(t *testing.T) {
	l := httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Initial: 10, Min: 1, Max: 100,
		Algorithm: &httpx.AIMD{Threshold: time.Hour, Backoff: 0.5}})
	h := httpx.Chain(httpx.Shed(l, nil), httpx.Timeout(5*time.Millisecond, nil))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // the database call gave up at the deadline
			httpx.Error(w, r, r.Context().Err())
		}))
	serve(h, get("/slow"))
	if got := l.Limit(); got != 5 {
		t.Fatalf("limit %v after a timed-out request, want 5 (dropped)", got)
	}
}
