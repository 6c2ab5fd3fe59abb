package queue_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/memqueue"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestNewBadInput(t *testing.T) {
	if _, err := queue.New(nil, nil); err == nil {
		t.Error("New(nil) did not fail")
	}
	if _, err := queue.New(memqueue.New(nil), &queue.Options{MaxBody: -1}); !errors.Is(err, queue.ErrInvalidOptions) {
		t.Errorf("New with MaxBody -1 = %v", err)
	}
	if _, err := queue.Idempotent(nil, nil, nil); err == nil {
		t.Error("Idempotent(nil, nil) did not fail")
	}
}

// TestIdempotentRedelivery: a message delivered again after its first
// handler succeeded (its ack was lost) is not handled twice.
func TestIdempotentRedelivery(t *testing.T) {
	ctx := context.Background()
	m := memqueue.New(nil)
	q, _ := queue.New(m, nil)
	sub, _ := q.Subscribe(ctx, "t", "s", &queue.SubscriptionOptions{Visibility: time.Minute})
	var runs atomic.Int32
	h, err := queue.Idempotent(queue.NewMemoryDedup(nil), func(context.Context, *queue.Delivery) error {
		runs.Add(1)
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = q.Publish(ctx, "t", queue.Message{Body: []byte("pay 10")})
	d, _ := sub.Receive(ctx)
	if err := h(ctx, d); err != nil { // handled, but the ack is lost:
		t.Fatal(err)
	}
	m.ExpireLeases("t", "s")
	d2, _ := sub.Receive(ctx)
	if d2.Deliveries != 2 {
		t.Fatalf("redelivery count %d", d2.Deliveries)
	}
	if err := d2.Settle(ctx, h(ctx, d2)); err != nil {
		t.Fatal(err)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("handler ran %d times for one message", n)
	}
	// A failing handler releases its claim: the retry runs it.
	var fails atomic.Int32
	h2, _ := queue.Idempotent(queue.NewMemoryDedup(nil), func(context.Context, *queue.Delivery) error {
		if fails.Add(1) == 1 {
			return errors.New("first try fails")
		}
		return nil
	}, nil)
	_, _ = q.Publish(ctx, "t", queue.Message{Body: []byte("x")})
	d3, _ := sub.Receive(ctx)
	if err := h2(ctx, d3); err == nil {
		t.Fatal("first run should fail")
	}
	if err := h2(ctx, d3); err != nil || fails.Load() != 2 {
		t.Fatalf("a failed run must release the claim: err %v, runs %d", err, fails.Load())
	}
}

// TestMetrics checks the instrument names and that counts move.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	q, _ := queue.NewInMemory(&queue.Options{MeterProvider: mp, Name: "orders-q"})
	sub, _ := q.Subscribe(ctx, "t", "s", nil)
	_, _ = q.Publish(ctx, "t", queue.Message{}, queue.Message{})
	d, _ := sub.Receive(ctx)
	_ = d.Ack(ctx)
	d, _ = sub.Receive(ctx)
	_ = d.Nack(ctx, queue.DeadLetterNow, nil)
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					got[m.Name] += p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					got[m.Name] += p.Value
				}
			}
		}
	}
	for name, want := range map[string]int64{
		"scalekit.queue.messages.published":     2,
		"scalekit.queue.messages.delivered":     2,
		"scalekit.queue.messages.acked":         1,
		"scalekit.queue.messages.nacked":        1,
		"scalekit.queue.messages.dead_lettered": 1,
		"scalekit.queue.dead_letters":           1,
		"scalekit.queue.backlog":                0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %d (reported %v), want %d", name, v, ok, want)
		}
	}
}

// remote hides memqueue's Local marker, as a networked backend would.
type remote struct{ driver.Queue }

// TestSpansOnlyWhenTracing: with a tracer provider configured, a
// networked backend gets queue.Publish and queue.Handle spans; the
// handler's context carries its span.
func TestSpansOnlyWhenTracing(t *testing.T) {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(ctx) }()
	q, _ := queue.New(remote{memqueue.New(nil)}, &queue.Options{TracerProvider: tp})
	sub, _ := q.Subscribe(ctx, "t", "s", nil)
	if _, err := q.Publish(ctx, "t", queue.Message{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	recorded := make(chan bool, 1)
	go func() {
		_ = sub.Consume(cctx, func(hctx context.Context, _ *queue.Delivery) error {
			recorded <- trace.SpanFromContext(hctx).IsRecording()
			cancel()
			return nil
		}, nil)
	}()
	if !<-recorded {
		t.Error("handler context has no recording span")
	}
	names := map[string]bool{}
	for _, s := range rec.Ended() {
		names[s.Name()] = true
	}
	if !names["queue.Publish"] {
		t.Errorf("spans %v, want queue.Publish", names)
	}
}
