package conformance_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/memqueue"
)

// networkQueue hides memqueue's driver.Local marker (keeping its
// notifications), so that the Queue traces it as a networked backend.
type networkQueue struct {
	driver.Queue
	driver.Notifier
}

// exerciseQueue produces every scalekit.queue.* instrument and queue span
// on an in-memory backend under a fake clock.
func exerciseQueue(ctx context.Context, t *testing.T, e *env) {
	fk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	md := memqueue.New(&memqueue.Options{Clock: fk})
	q, err := queue.New(networkQueue{md, md}, &queue.Options{Name: "orders", Clock: fk, MeterProvider: e.mp, TracerProvider: e.tp})
	must(t, err)
	t.Cleanup(func() { _ = q.Close() })
	sub, err := q.Subscribe(ctx, "orders", "billing", &queue.SubscriptionOptions{Visibility: time.Minute, HeartbeatEvery: time.Second})
	must(t, err)
	// The backlog gauges hold subscriptions weakly: keep this one alive
	// until the metrics are collected.
	t.Cleanup(func() { runtime.KeepAlive(sub) })

	_, err = q.Publish(ctx, "orders", queue.Message{Body: []byte("a")})
	must(t, err)
	d, err := sub.Receive(ctx)
	must(t, err)
	must(t, d.Nack(ctx, queue.RetryAfter(0), errors.New("again")))
	d, err = sub.Receive(ctx) // redelivered
	must(t, err)
	if d.Deliveries != 2 {
		t.Fatalf("second Receive: delivery %d, want 2", d.Deliveries)
	}
	// One heartbeat tick extends the lease.
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	must(t, fk.BlockUntil(bctx, 1))
	fk.Advance(time.Second)
	waitMetric(ctx, t, e, "scalekit.queue.leases.extended")
	must(t, d.Nack(ctx, queue.DeadLetterNow, errors.New("give up")))
	if n, err := sub.RedriveAll(ctx); err != nil || n != 1 {
		t.Fatalf("RedriveAll = %d, %v; want 1", n, err)
	}

	// Consume: in_flight and the consumer span; the first ack batch fails
	// all three attempts (acks.failed).
	_, err = q.Publish(ctx, "orders", queue.Message{Body: []byte("b")})
	must(t, err)
	for range 3 {
		md.FailNext("ack", errors.New("connection reset"))
	}
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var handled atomic.Int32
	err = sub.Consume(cctx, func(context.Context, *queue.Delivery) error {
		if handled.Add(1) == 2 {
			stop()
		}
		return nil
	}, &queue.ConsumeOptions{Concurrency: 1, Prefetch: 1, AckDelay: -1})
	must(t, err)
	waitMetric(ctx, t, e, "scalekit.queue.acks.failed")
	// An ack that goes through (messages.acked).
	_, err = q.Publish(ctx, "orders", queue.Message{Body: []byte("c")})
	must(t, err)
	d, err = sub.Receive(ctx)
	must(t, err)
	must(t, d.Ack(ctx))
}

// waitMetric collects until metric name has a data point, or fails after
// a deadline: for instruments recorded by background goroutines.
func waitMetric(ctx context.Context, t *testing.T, e *env, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var rm metricdata.ResourceMetrics
		must(t, e.reader.Collect(ctx, &rm))
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name == name {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s never recorded", name)
		}
		time.Sleep(time.Millisecond)
	}
}
