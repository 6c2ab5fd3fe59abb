package queue_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/queue"
)

// A work queue with an ordering key: publish, consume, and see a failing
// message retried.
func Example() {
	ctx := context.Background()
	q, _ := queue.NewInMemory(nil)
	sub, _ := q.Subscribe(ctx, "orders", "billing", &queue.SubscriptionOptions{
		Backoff: queue.Backoff{Initial: time.Millisecond, Max: time.Millisecond},
	})
	_, _ = q.Publish(ctx, "orders",
		queue.Message{Key: "customer-1", Body: []byte("order 1")},
		queue.Message{Key: "customer-1", Body: []byte("order 2")})

	done := make(chan struct{})
	cctx, stop := context.WithCancel(ctx)
	go func() {
		_ = sub.Consume(cctx, func(_ context.Context, d *queue.Delivery) error {
			if d.Deliveries == 1 && string(d.Body) == "order 1" {
				return errors.New("payment service busy") // retried with backoff
			}
			fmt.Printf("%s (delivery %d)\n", d.Body, d.Deliveries)
			if string(d.Body) == "order 2" {
				close(done)
			}
			return nil
		}, nil)
	}()
	<-done
	stop()
	// Output:
	// order 1 (delivery 2)
	// order 2 (delivery 1)
}

// The dead-letter queue: a handler rejects a message, an operator
// inspects it and redrives it.
func ExampleSubscription_DeadLetters() {
	ctx := context.Background()
	q, _ := queue.NewInMemory(nil)
	sub, _ := q.Subscribe(ctx, "events", "indexer", nil)
	_, _ = q.Publish(ctx, "events", queue.Message{ID: "evt-1", Body: []byte("{bad json")})

	d, _ := sub.Receive(ctx)
	_ = d.Nack(ctx, queue.DeadLetterNow, errors.New("unexpected EOF"))

	dls, _ := sub.DeadLetters(ctx, "", 10)
	for _, dl := range dls {
		fmt.Println(dl.ID, dl.Reason, dl.Deliveries, dl.LastError)
	}
	n, _ := sub.Redrive(ctx, "evt-1")
	fmt.Println("redriven:", n)
	// Output:
	// evt-1 rejected 1 unexpected EOF
	// redriven: 1
}
