package queue_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/memqueue"
)

// TestAcksNotHeldWhileIdle: handlers that finish together must all be
// acked while Consume keeps running. A worker that saw more work queued
// kept its ack back for the next batch, and when another worker took that
// work it waited for more with the ack in hand; the heartbeat kept the
// lease alive, so the message stayed unacked until Consume stopped (seen
// in CI as a backlog that never drained).
func TestAcksNotHeldWhileIdle(t *testing.T) {
	q, err := queue.New(memqueue.New(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	for round := 0; round < 40; round++ {
		topic := fmt.Sprintf("t%d", round)
		sub, err := q.Subscribe(ctx, topic, "s", &queue.SubscriptionOptions{Visibility: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		const n, conc = 24, 8
		if _, err := q.Publish(ctx, topic, make([]queue.Message, n)...); err != nil {
			t.Fatal(err)
		}
		gate := make(chan struct{})
		var started sync.WaitGroup
		started.Add(conc)
		var once [conc]sync.Once
		var mu sync.Mutex
		slot := 0
		cctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- sub.Consume(cctx, func(context.Context, *queue.Delivery) error {
				mu.Lock()
				i := slot
				slot++
				mu.Unlock()
				if i < conc {
					once[i].Do(started.Done)
					<-gate // the first handlers end together
				}
				return nil
			}, &queue.ConsumeOptions{Concurrency: conc, Prefetch: n - conc, AckDelay: -1})
		}()
		started.Wait()
		close(gate)
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, err := sub.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Backlog == 0 {
				break
			}
			if time.Now().After(deadline) {
				stop()
				<-done
				t.Fatalf("round %d: %d messages still unacked 5s after every handler returned (Consume running)", round, st.Backlog)
			}
			time.Sleep(time.Millisecond)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
