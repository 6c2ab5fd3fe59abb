package queuetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
)

// testCloseStopsHeartbeat: a delivery held (not settled) when its Queue is
// closed stops being extended, so its lease lapses and another consumer
// gets the message; the closed consumer's late Ack does not delete the
// redelivered copy.
func (s *suite) testCloseStopsHeartbeat(t *testing.T) {
	q1, sub1, sub2 := s.competing(t, "held at close")
	d := s.receive(t, sub1, 5*time.Second)
	if d == nil {
		t.Fatal("message not delivered")
	}
	if err := q1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	d2 := s.receive(t, sub2, 3*s.Visibility+5*time.Second)
	if d2 == nil {
		t.Fatalf("a delivery held when its Queue closed was not delivered again within 3 visibility timeouts (%v): its lease is still being extended", s.Visibility)
	}
	if d2.ID != d.ID || d2.Deliveries != 2 {
		t.Errorf("redelivery has id %q deliveries %d; want %q and 2", d2.ID, d2.Deliveries, d.ID)
	}
	// The closed consumer settles late: its lease is over, so the Ack
	// must not delete the copy now leased by the other consumer.
	_ = d.Ack(context.Background())
	if st := s.stats(t, sub2); st.Backlog != 1 {
		t.Errorf("backlog %d after a stale Ack, want 1 (the redelivered copy)", st.Backlog)
	}
	if err := d2.Ack(context.Background()); err != nil {
		t.Fatalf("Ack of the redelivery: %v", err)
	}
	s.eventually(t, 5*time.Second, "message acked", func() bool { return s.stats(t, sub2).Backlog == 0 })
}

// testDrainTimeoutStopsHeartbeat: when Consume gives up on a handler that
// ignores its context (ErrDrainTimeout), the handler's delivery stops
// being extended and is delivered to another consumer while the stuck
// handler still runs.
func (s *suite) testDrainTimeoutStopsHeartbeat(t *testing.T) {
	_, sub1, sub2 := s.competing(t, "stuck")
	var started atomic.Int32
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- sub1.Consume(ctx, func(context.Context, *queue.Delivery) error {
			started.Add(1)
			<-release // ignores its context
			return nil
		}, &queue.ConsumeOptions{Concurrency: 1, ShutdownTimeout: 50 * time.Millisecond})
	}()
	s.eventually(t, 5*time.Second, "handler running", func() bool { return started.Load() == 1 })
	cancel()
	err := s.consumeResult(t, errc)
	if !errors.Is(err, queue.ErrDrainTimeout) {
		t.Fatalf("Consume = %v, want ErrDrainTimeout", err)
	}
	d := s.receive(t, sub2, 3*s.Visibility+5*time.Second)
	if d == nil {
		t.Fatalf("the message of a handler abandoned at the shutdown deadline was not delivered again within 3 visibility timeouts (%v): its lease is still being extended", s.Visibility)
	}
	if d.Deliveries != 2 {
		t.Errorf("redelivery count %d, want 2", d.Deliveries)
	}
	if err := d.Ack(context.Background()); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}
