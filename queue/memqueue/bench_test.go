package memqueue_test

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/memqueue"
)

// BenchmarkPublish publishes batches of 100 messages; msgs/s is per message.
func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	q, _ := queue.New(memqueue.New(nil), nil)
	_, _ = q.Subscribe(ctx, "t", "s", nil)
	batch := make([]queue.Message, 100)
	for i := range batch {
		batch[i].Body = []byte("0123456789abcdef")
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := q.Publish(ctx, "t", batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/time.Since(start).Seconds(), "msgs/s")
}

// maxBacklog bounds the messages BenchmarkEndToEnd has published but not
// yet handled: the publisher waits for the consumer, so memory stays
// bounded whatever b.N is.
var maxBacklog = int64(envInt("BB", 50_000))

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
	cpu0 := cpuTime()
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
		}, benchOpts())
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
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/msg")
	b.StopTimer()
	cancel()
}

// cpuTime returns the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func benchOpts() *queue.ConsumeOptions {
	o := &queue.ConsumeOptions{Concurrency: 8, Prefetch: 1024, AckBatch: 1024}
	if v, err := strconv.Atoi(os.Getenv("BC")); err == nil {
		o.Concurrency = v
	}
	if v, err := strconv.Atoi(os.Getenv("BP")); err == nil {
		o.Prefetch = v
	}
	return o
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}
