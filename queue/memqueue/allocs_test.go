package memqueue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/memqueue"
)

// TestEndToEndAllocsPerMessage guards the hot path: publishing in batches
// and consuming with Consume allocates well under one object per message
// (ids, Deliveries and entries come in slabs, ack slices are recycled,
// metrics with no provider allocate nothing).
func TestEndToEndAllocsPerMessage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q, _ := queue.New(memqueue.New(nil), nil)
	sub, _ := q.Subscribe(ctx, "t", "s", nil)
	var handled atomic.Int64
	go func() {
		_ = sub.Consume(ctx, func(context.Context, *queue.Delivery) error {
			handled.Add(1)
			return nil
		}, &queue.ConsumeOptions{Concurrency: 4, Prefetch: 512, AckBatch: 512})
	}()
	batch := make([]queue.Message, 512)
	for i := range batch {
		batch[i].Body = []byte("0123456789abcdef")
	}
	const perRun = 8 * 512
	var want int64
	run := func() {
		for i := 0; i < perRun/len(batch); i++ {
			if _, err := q.Publish(ctx, "t", batch...); err != nil {
				t.Fatal(err)
			}
		}
		want += perRun
		deadline := time.Now().Add(30 * time.Second)
		for handled.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("handled %d of %d", handled.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	run() // warm up: pools, slot tables, channels
	allocs := testing.AllocsPerRun(3, run) / perRun
	t.Logf("%.3f allocations per message", allocs)
	if allocs > 0.5 {
		t.Fatalf("%.3f allocations per message end to end, want < 0.5", allocs)
	}
}
