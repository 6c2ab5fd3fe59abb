package queue

import (
	"context"
	"sync"
	"time"
	"weak"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/queue/driver"
)

// telemetry holds a Queue's instruments. Counters are per Queue; the
// backlog gauges are registered once per meter and report every live
// subscription from one callback.
type telemetry struct {
	name      string
	nameOnly  []metric.AddOption
	published metric.Int64Counter
	deliv     metric.Int64Counter
	redeliv   metric.Int64Counter
	acked     metric.Int64Counter
	ackFailed metric.Int64Counter
	nack      metric.Int64Counter
	dead      metric.Int64Counter
	redriven  metric.Int64Counter
	extended  metric.Int64Counter
	inflight  metric.Int64UpDownCounter
	gauges    *gaugeSet
}

func newTelemetry(mp metric.MeterProvider, name string) *telemetry {
	m := otelx.Meter(mp, "queue")
	c := func(n, desc string) metric.Int64Counter {
		return otelx.Must(m.Int64Counter(n, metric.WithUnit("{message}"), metric.WithDescription(desc)))
	}
	t := &telemetry{name: name,
		nameOnly:  []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("scalekit.name", name)))},
		published: c("scalekit.queue.messages.published", "Messages stored by Publish"),
		deliv:     c("scalekit.queue.messages.delivered", "Deliveries handed to consumers (first deliveries and redeliveries)"),
		redeliv:   c("scalekit.queue.messages.redelivered", "Deliveries of messages delivered before"),
		acked:     c("scalekit.queue.messages.acked", "Messages acked"),
		ackFailed: c("scalekit.queue.acks.failed", "Acks of Consume that still failed after retries: the messages will be redelivered"),
		nack:      c("scalekit.queue.messages.nacked", "Messages nacked, by action (retry, dead-letter, drop)"),
		dead:      c("scalekit.queue.messages.dead_lettered", "Messages moved to a dead-letter queue"),
		redriven:  c("scalekit.queue.messages.redriven", "Dead letters moved back to their subscription"),
		extended: otelx.Must(m.Int64Counter("scalekit.queue.leases.extended", metric.WithUnit("{lease}"),
			metric.WithDescription("Heartbeat extensions of delivery leases"))),
		inflight: otelx.Must(m.Int64UpDownCounter("scalekit.queue.messages.in_flight", metric.WithUnit("{message}"),
			metric.WithDescription("Messages whose handler is running"))),
	}
	t.gauges = gaugesFor(m)
	return t
}

func (t *telemetry) subAttrs(sub string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("scalekit.name", t.name),
		attribute.String("scalekit.queue.subscription", sub)))
}

func (t *telemetry) delivered(n int64, ds []driver.Delivery, attrs []metric.AddOption) {
	ctx := context.Background()
	t.deliv.Add(ctx, n, attrs...)
	var re int64
	for i := range ds {
		if ds[i].Deliveries > 1 {
			re++
		}
	}
	if re > 0 {
		t.redeliv.Add(ctx, re, attrs...)
	}
}

var actionAttr = map[driver.Action]attribute.KeyValue{
	driver.ActionRetry:      attribute.String("scalekit.queue.action", "retry"),
	driver.ActionDeadLetter: attribute.String("scalekit.queue.action", "dead-letter"),
	driver.ActionDrop:       attribute.String("scalekit.queue.action", "drop"),
}

func (t *telemetry) nacked(a driver.Action, attrs []metric.AddOption) {
	ctx := context.Background()
	t.nack.Add(ctx, 1, append(attrs[:len(attrs):len(attrs)], metric.WithAttributes(actionAttr[a]))...)
	if a == driver.ActionDeadLetter {
		t.dead.Add(ctx, 1, attrs...)
	}
}

// track adds s to the subscriptions the backlog gauges report.
func (t *telemetry) track(s *Subscription) {
	g := t.gauges
	g.mu.Lock()
	g.subs = append(g.subs, weak.Make(s))
	g.mu.Unlock()
}

// gaugeSet is the backlog gauges of one meter and the subscriptions they
// report on (weakly held: a dropped Subscription stops being reported).
type gaugeSet struct {
	mu   sync.Mutex
	subs []weak.Pointer[Subscription]
}

var (
	gaugeMu   sync.Mutex
	gaugeSets = map[metric.Meter]*gaugeSet{}
)

func gaugesFor(m metric.Meter) *gaugeSet {
	gaugeMu.Lock()
	defer gaugeMu.Unlock()
	if g, ok := gaugeSets[m]; ok {
		return g
	}
	g := &gaugeSet{}
	gaugeSets[m] = g
	backlog := otelx.Must(m.Int64ObservableGauge("scalekit.queue.backlog", metric.WithUnit("{message}"),
		metric.WithDescription("Messages not yet acked (ready, delayed, leased) per subscription")))
	dead := otelx.Must(m.Int64ObservableGauge("scalekit.queue.dead_letters", metric.WithUnit("{message}"),
		metric.WithDescription("Messages in the dead-letter queue per subscription")))
	age := otelx.Must(m.Float64ObservableGauge("scalekit.queue.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest message in the backlog per subscription")))
	_, _ = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for _, s := range g.live() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			st, err := s.q.d.Stats(cctx, s.topic, s.name)
			cancel()
			if err != nil {
				continue
			}
			o.ObserveInt64(backlog, st.Backlog, s.attrs)
			o.ObserveInt64(dead, st.DeadLetters, s.attrs)
			a := 0.0
			if !st.Oldest.IsZero() {
				a = s.q.clk.Since(st.Oldest).Seconds()
			}
			o.ObserveFloat64(age, a, s.attrs)
		}
		return nil
	}, backlog, dead, age)
	return g
}

// live returns the subscriptions still referenced, one per topic and
// name and Queue, and forgets the others.
func (g *gaugeSet) live() []*Subscription {
	g.mu.Lock()
	defer g.mu.Unlock()
	type id struct {
		q           *Queue
		topic, name string
	}
	seen := map[id]bool{}
	var out []*Subscription
	keep := g.subs[:0]
	for _, w := range g.subs {
		s := w.Value()
		if s == nil {
			continue
		}
		keep = append(keep, w)
		k := id{s.q, s.topic, s.name}
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	clear(g.subs[len(keep):])
	g.subs = keep
	return out
}
