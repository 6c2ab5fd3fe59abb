package lb_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
	"github.com/scalekit-go/scalekit/resilience"
)

// collect returns metric name → endpoint → value.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			vals := map[string]int64{}
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			}
			for _, p := range points {
				host, _ := p.Attributes.Value(attribute.Key("server.address"))
				port, _ := p.Attributes.Value(attribute.Key("server.port"))
				ep := net.JoinHostPort(host.AsString(), strconv.Itoa(int(port.AsInt64())))
				if name, _ := p.Attributes.Value(attribute.Key("scalekit.name")); name.AsString() != "api" {
					t.Errorf("%s: scalekit.name = %q", m.Name, name.AsString())
				}
				vals[ep] = p.Value
			}
			out[m.Name] = vals
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	clk := clock.NewFake(t0)
	eps := lbtest.Addrs(3)
	bad := eps[0].Addr
	b := newBalancer(t, eps, &lb.Options{Name: "api", MeterProvider: mp, Clock: clk,
		Outlier: &lb.OutlierOptions{ConsecutiveFailures: 2, BaseEjection: time.Hour},
		Breaker: &lb.BreakerOptions{ReadyToTrip: func(c resilience.Counts) bool { return c.ConsecutiveFailures >= 2 }}})
	// Round robin: within 6 calls bad fails twice in a row, so it is
	// ejected and its breaker opens.
	want := map[string]int64{}
	for range 6 {
		r, _ := b.Pick(lb.PickInfo{})
		want[r.Backend.Addr()]++
		var e error
		if r.Backend.Addr() == bad {
			e = errBoom
		}
		r.Done(lb.DoneInfo{Err: e})
	}
	held, _ := b.Pick(lb.PickInfo{})
	want[held.Backend.Addr()]++
	m := collect(t, reader)
	for _, e := range eps {
		if got := m["scalekit.lb.picks"][e.Addr]; got != want[e.Addr] {
			t.Errorf("lb.picks[%s] = %d, want %d", e.Addr, got, want[e.Addr])
		}
	}
	if got := m["scalekit.lb.ejections"]; got[bad] != 1 || got[eps[1].Addr] != 0 {
		t.Errorf("lb.ejections = %v", got)
	}
	if got := m["scalekit.lb.inflight"]; got[held.Backend.Addr()] != 1 || got[bad] != 0 {
		t.Errorf("lb.inflight = %v", got)
	}
	if got := m["scalekit.lb.breaker.state"]; got[bad] != int64(resilience.StateOpen) || got[eps[2].Addr] != int64(resilience.StateClosed) {
		t.Errorf("lb.breaker.state = %v", got)
	}
	if got := m["scalekit.lb.endpoint.up"]; got[bad] != 0 || got[eps[1].Addr] != 1 {
		t.Errorf("lb.endpoint.up = %v", got)
	}
	held.Done(lb.DoneInfo{})
	_ = b.Close()
	if m := collect(t, reader); len(m["scalekit.lb.picks"]) != 0 {
		t.Errorf("metrics still reported after Close: %v", m["scalekit.lb.picks"])
	}
}
