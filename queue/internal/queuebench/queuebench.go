// Package queuebench holds the end-to-end benchmark rounds that the queue
// backends share, so that every backend's "through package queue" and
// "through the driver alone" figures measure the same work.
package queuebench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/driver"
)

// Batch is the number of messages per Publish call in both rounds.
const Batch = 500

// body is every message's 64-byte payload.
var body = make([]byte, 64)

// QueueRound publishes n messages on a new subscription of topic through
// package queue, in batches of Batch, and consumes them with opts. It
// returns the time from the first Publish until the last message was
// handled and Consume had flushed its acks.
func QueueRound(tb testing.TB, q *queue.Queue, topic string, n int, opts *queue.ConsumeOptions) time.Duration {
	tb.Helper()
	ctx := context.Background()
	sub, err := q.Subscribe(ctx, topic, "s", &queue.SubscriptionOptions{PollMin: time.Millisecond, PollInterval: 5 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	batch := make([]queue.Message, Batch)
	var got atomic.Int64
	done := make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		errc <- sub.Consume(cctx, func(context.Context, *queue.Delivery) error {
			if got.Add(1) == int64(n) {
				close(done)
			}
			return nil
		}, opts)
	}()
	for sent := 0; sent < n; sent += Batch {
		for i := range batch {
			batch[i] = queue.Message{Body: body} // fresh ids
		}
		if _, err := q.Publish(ctx, topic, batch[:min(Batch, n-sent)]...); err != nil {
			tb.Fatal(err)
		}
	}
	<-done
	cancel() // Consume flushes the last acks before it returns
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// DriverRound does the work of QueueRound through the driver alone (no
// package queue): Publish in batches, one Receive loop leasing up to
// maxReceive at a time, and Ack in batches (of at most the driver's
// MaxBatch) from a second goroutine. It shows what the driver costs apart
// from Consume.
func DriverRound(tb testing.TB, d driver.Queue, topic string, n, maxReceive int) time.Duration {
	tb.Helper()
	ctx := context.Background()
	if err := d.Subscribe(ctx, topic, "s"); err != nil {
		tb.Fatal(err)
	}
	maxAck := n
	if l, ok := d.(driver.Limited); ok && l.Limits().MaxBatch > 0 {
		maxAck = l.Limits().MaxBatch
	}
	acks := make(chan []string, 64)
	errc := make(chan error, 2)
	done := make(chan struct{})
	start := time.Now()
	go func() { // receiver
		defer close(acks)
		for read := 0; read < n; {
			ds, err := d.Receive(ctx, topic, "s", maxReceive, 30*time.Second)
			if err != nil {
				errc <- err
				return
			}
			if len(ds) == 0 {
				time.Sleep(time.Millisecond) // as a raw client's blocking read, roughly
				continue
			}
			hs := make([]string, len(ds))
			for i := range ds {
				hs[i] = ds[i].Handle
			}
			read += len(hs)
			select {
			case acks <- hs:
			case <-done: // the acker failed
				return
			}
		}
	}()
	go func() { // acker
		defer close(done)
		for hs := range acks {
			for len(hs) > 0 {
				k := min(len(hs), maxAck)
				if err := d.Ack(ctx, topic, "s", hs[:k]); err != nil {
					errc <- err
					return
				}
				hs = hs[k:]
			}
		}
	}()
	batch := make([]driver.Message, Batch)
	for sent := 0; sent < n; sent += Batch {
		now := time.Now()
		for i := range batch {
			batch[i] = driver.Message{ID: fmt.Sprintf("%032x", sent+i), Body: body, PublishedAt: now, NotBefore: now}
		}
		if err := d.Publish(ctx, topic, batch[:min(Batch, n-sent)]); err != nil {
			tb.Fatal(err)
		}
	}
	<-done
	select {
	case err := <-errc:
		tb.Fatal(err)
	default:
	}
	return time.Since(start)
}
