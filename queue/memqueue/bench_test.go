package memqueue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/memqueue"
)

// BenchmarkPublish publishes batches of 100 messages to a topic with one
// subscription; msgs/s is per message. Every maxBacklog messages the
// timer stops and the backend is replaced by an empty one, so the backlog
// (and memory) stays bounded whatever b.N is.
func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	fresh := func() *queue.Queue {
		q, _ := queue.New(memqueue.New(nil), nil)
		_, _ = q.Subscribe(ctx, "t", "s", nil)
		return q
	}
	q := fresh()
	batch := make([]queue.Message, 100)
	for i := range batch {
		batch[i].Body = []byte("0123456789abcdef")
	}
	b.ReportAllocs()
	b.ResetTimer()
	var elapsed time.Duration
	start := time.Now()
	cpu0 := testenv.CPUTime()
	held := 0
	for i := 0; i < b.N; i++ {
		if held += len(batch); held > maxBacklog {
			b.StopTimer()
			elapsed += time.Since(start)
			q, held = fresh(), len(batch)
			b.StartTimer()
			start = time.Now()
		}
		if _, err := q.Publish(ctx, "t", batch...); err != nil {
			b.Fatal(err)
		}
	}
	elapsed += time.Since(start)
	b.ReportMetric(float64(b.N*len(batch))/elapsed.Seconds(), "msgs/s")
	// Includes the (small) cost of replacing the backend.
	b.ReportMetric(float64(testenv.CPUTime()-cpu0)/float64(b.N*len(batch)), "cpu-ns/msg")
}

// maxBacklog bounds the messages BenchmarkEndToEnd has published but not
// yet handled: the publisher waits for the consumer, so memory stays
// bounded whatever b.N is.
const maxBacklog = 50_000

// BenchmarkEndToEnd publishes b.N messages (batches of 500, never more
// than maxBacklog ahead of the handlers) while a consumer with 8 handlers
// acks them; one op is one message published, delivered, handled and
// acked. cpu-ns/msg is the process's CPU time (user + system, all
// goroutines, GC included) per message.
func BenchmarkEndToEnd(b *testing.B) {
	ctx := context.Background()
	q, _ := queue.New(memqueue.New(nil), nil)
	sub, _ := q.Subscribe(ctx, "t", "s", nil)
	var handled atomic.Int64
	done := make(chan struct{})
	progress := make(chan struct{}, 1)
	target := int64(b.N)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu0 := testenv.CPUTime()
	go func() {
		_ = sub.Consume(cctx, func(context.Context, *queue.Delivery) error {
			n := handled.Add(1)
			if n == target {
				close(done)
			}
			if n%1024 == 0 {
				select {
				case progress <- struct{}{}:
				default:
				}
			}
			return nil
		}, &queue.ConsumeOptions{Concurrency: 8, Prefetch: 1024, AckBatch: 1024})
	}()
	batch := make([]queue.Message, 500)
	for i := range batch {
		batch[i].Body = []byte("0123456789abcdef")
	}
	published := int64(0)
	for left := b.N; left > 0; {
		for published-handled.Load() > maxBacklog {
			select {
			case <-progress:
			case <-time.After(time.Millisecond):
			}
		}
		n := min(left, len(batch))
		if _, err := q.Publish(ctx, "t", batch[:n]...); err != nil {
			b.Fatal(err)
		}
		left -= n
		published += int64(n)
	}
	<-done
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	// CPU time per message, which the load of a shared machine does not
	// inflate: 2 cores / cpu-ns per message is the rate on an idle machine.
	b.ReportMetric(float64(testenv.CPUTime()-cpu0)/float64(b.N), "cpu-ns/msg")
	b.StopTimer()
	cancel()
}
