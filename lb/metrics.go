package lb

import (
	"context"
	"net"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/internal/otelx"
)

// metrics exports the balancer's state as OpenTelemetry observables, read
// from the backends' atomic counters at collection time, so Pick and Done
// pay nothing for them:
//
//	lb.picks       counter  picks per endpoint
//	lb.ejections   counter  outlier ejections per endpoint
//	lb.inflight    gauge    calls in flight per endpoint
//	lb.breaker.state gauge  0 closed, 1 half-open, 2 open (with breakers on)
//	lb.endpoint.up gauge    1 when the endpoint is in rotation
type metrics struct {
	reg metric.Registration
}

func newMetrics(b *Balancer, mp metric.MeterProvider) *metrics {
	m := otelx.Meter(mp, "lb")
	picks := otelx.Must(m.Int64ObservableCounter("scalekit.lb.picks",
		metric.WithDescription("Calls handed to each endpoint."), metric.WithUnit("{call}")))
	ejects := otelx.Must(m.Int64ObservableCounter("scalekit.lb.ejections",
		metric.WithDescription("Outlier ejections of each endpoint."), metric.WithUnit("{ejection}")))
	inflight := otelx.Must(m.Int64ObservableGauge("scalekit.lb.inflight",
		metric.WithDescription("Calls in flight on each endpoint."), metric.WithUnit("{call}")))
	breaker := otelx.Must(m.Int64ObservableGauge("scalekit.lb.breaker.state",
		metric.WithDescription("Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open."), metric.WithUnit("1")))
	up := otelx.Must(m.Int64ObservableGauge("scalekit.lb.endpoint.up",
		metric.WithDescription("1 when the endpoint is in rotation, else 0."), metric.WithUnit("1")))
	name := otelx.Name(b.opts.Name, "lb")
	reg := otelx.Must(m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		b.mu.Lock()
		type row struct {
			be *Backend
			up bool
		}
		rows := make([]row, 0, len(b.all)+len(b.draining))
		for _, be := range b.all {
			rows = append(rows, row{be, eligibleLocked(be)})
		}
		for be := range b.draining {
			rows = append(rows, row{be, false})
		}
		b.mu.Unlock()
		for _, r := range rows {
			set := metric.WithAttributeSet(endpointAttrs(name, r.be.Addr()))
			o.ObserveInt64(picks, int64(r.be.Picks()), set)
			o.ObserveInt64(ejects, int64(r.be.Ejections()), set)
			o.ObserveInt64(inflight, r.be.InFlight(), set)
			u := int64(0)
			if r.up {
				u = 1
			}
			o.ObserveInt64(up, u, set)
			if r.be.breaker != nil {
				o.ObserveInt64(breaker, int64(r.be.breaker.State()), set)
			}
		}
		return nil
	}, picks, ejects, inflight, breaker, up))
	return &metrics{reg: reg}
}

func (m *metrics) unregister() {
	if m != nil && m.reg != nil {
		_ = m.reg.Unregister()
	}
}

// endpointAttrs is the attribute set of one endpoint's data points: the
// balancer's name and the endpoint as server.address and server.port (the
// semantic-convention split; an address never carries its port).
func endpointAttrs(name attribute.KeyValue, addr string) attribute.Set {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return attribute.NewSet(name, attribute.String("server.address", addr))
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return attribute.NewSet(name, attribute.String("server.address", addr))
	}
	return attribute.NewSet(name, attribute.String("server.address", host), attribute.Int("server.port", p))
}
