package queuetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
)

// testReceiveBatchAck: ReceiveBatch leases several messages at once
// (never more than asked), Subscription.Ack settles them in one call, and
// bad input is refused.
func (s *suite) testReceiveBatchAck(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	other := s.subscribe(t, q, tp, "other", nil)
	ctx := context.Background()
	if _, err := sub.ReceiveBatch(ctx, 0); !errors.Is(err, queue.ErrInvalidOptions) {
		t.Errorf("ReceiveBatch(0) = %v, want ErrInvalidOptions", err)
	}
	const n = 7
	msgs := make([]queue.Message, n)
	for i := range msgs {
		msgs[i].Body = []byte(fmt.Sprint(i))
	}
	s.publish(t, q, tp, msgs...)
	var got []*queue.Delivery
	s.eventually(t, 10*time.Second, "all messages received in batches", func() bool {
		rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		ds, err := sub.ReceiveBatch(rctx, 3)
		if err != nil {
			return len(got) == n
		}
		if len(ds) == 0 || len(ds) > 3 {
			t.Fatalf("ReceiveBatch(3) returned %d deliveries", len(ds))
		}
		got = append(got, ds...)
		return len(got) == n
	})
	od := s.receive(t, other, 5*time.Second)
	if od == nil {
		t.Fatal("fan-out copy not delivered")
	}
	if err := sub.Ack(ctx, got[0], od); !errors.Is(err, queue.ErrInvalidOptions) {
		t.Errorf("Ack with another subscription's delivery = %v, want ErrInvalidOptions", err)
	}
	if err := sub.Ack(ctx, got...); err != nil {
		t.Fatalf("Ack(%d deliveries): %v", len(got), err)
	}
	if err := sub.Ack(ctx, got...); err != nil {
		t.Errorf("Ack of settled deliveries = %v, want nil (skipped)", err)
	}
	if err := got[0].Ack(ctx); !errors.Is(err, queue.ErrNotLeased) {
		t.Errorf("Delivery.Ack after Subscription.Ack = %v, want ErrNotLeased", err)
	}
	s.eventually(t, 5*time.Second, "backlog empty", func() bool { return s.stats(t, sub).Backlog == 0 })
	_ = od.Ack(ctx)
}
