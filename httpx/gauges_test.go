package httpx_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scalekit-go/scalekit/httpx"
)

// gaugePoints collects the data points of the gauge name, whatever their
// attributes, as one entry per attribute set.
func gaugePoints(t *testing.T, reader *sdkmetric.ManualReader, name string) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[p.Attributes.Encoded(attribute.DefaultEncoder())] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[p.Attributes.Encoded(attribute.DefaultEncoder())] = p.Value
				}
			}
		}
	}
	return out
}

// TestGaugesReportEveryInstance (issue 10 item 13): the OTel SDK binds an
// instrument option callback to the first registration of a name only, so
// the second AdaptiveLimiter or BreakerTransport on one meter provider used
// to be invisible. Every live instance must report.
func TestGaugesReportEveryInstance(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	a := httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Name: "api", Initial: 10, MeterProvider: mp})
	b := httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Name: "admin", Initial: 30, MeterProvider: mp})
	got := gaugePoints(t, reader, "scalekit.httpx.concurrency_limit")
	if len(got) != 2 {
		t.Errorf("concurrency_limit points %v, want one per limiter", got)
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)

	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	var bts []*httpx.BreakerTransport
	for _, host := range []string{"one.test", "two.test"} {
		bt, err := httpx.NewBreakerTransport(nil, &httpx.BreakerOptions{MeterProvider: mp,
			Key: func(*http.Request) string { return host }})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := bt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		bts = append(bts, bt)
	}
	if got := gaugePoints(t, reader, "scalekit.httpx.client.breaker.state"); len(got) != 2 {
		t.Fatalf("breaker.state points %v, want one per transport's breaker", got)
	}
	runtime.KeepAlive(bts)
}

// TestGaugesForgetCollectedInstances: an instance that is garbage collected
// stops reporting (the shared callback holds it weakly), so short-lived
// limiters do not leak through the meter.
func TestGaugesForgetCollectedInstances(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	keep := httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Name: "keep", MeterProvider: mp})
	func() {
		for i := range 5 {
			_ = httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Name: "temp" + string(rune('a'+i)), MeterProvider: mp})
		}
	}()
	for range 3 {
		runtime.GC()
	}
	// A fresh reader view: gauges report only what the last callback saw.
	if got := gaugePoints(t, reader, "scalekit.httpx.concurrency_limit"); len(got) != 1 {
		t.Fatalf("points %v, want only the live limiter", got)
	}
	runtime.KeepAlive(keep)
}
