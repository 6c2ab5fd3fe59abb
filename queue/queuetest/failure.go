package queuetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
)

// testRedelivery: a consumer that leases a message and dies (never settles,
// no heartbeat) leaves it to be delivered again after the visibility
// timeout, with the delivery count raised.
func (s *suite) testRedelivery(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	s.publish(t, q, tp, queue.Message{Body: []byte("x")})
	dead := s.New(t) // a consumer that dies holding the lease
	leased := s.now()
	ds, err := dead.Receive(context.Background(), tp, "s", 10, s.Visibility)
	if err != nil || len(ds) != 1 {
		t.Fatalf("driver Receive = %d deliveries, %v; want 1", len(ds), err)
	}
	d := s.receive(t, sub, s.Visibility/3)
	if d != nil {
		// On a loaded machine the wait may overrun: only a delivery
		// before the lease can have ended is wrong.
		if el := s.now().Sub(leased); el < s.Visibility {
			t.Fatalf("message delivered again %v after it was leased for %v", el, s.Visibility)
		}
	} else {
		d = s.receive(t, sub, 2*s.Visibility+5*time.Second)
	}
	if d == nil {
		t.Fatalf("message not delivered again after its visibility timeout (%v)", s.Visibility)
	}
	if d.ID != ds[0].ID || d.Deliveries != 2 {
		t.Errorf("redelivery has id %q deliveries %d; want %q and 2", d.ID, d.Deliveries, ds[0].ID)
	}
	_ = d.Ack(context.Background())
}

// testHeartbeat: a handler running for several visibility timeouts keeps
// its lease, so the message is not handed to another consumer.
func (s *suite) testHeartbeat(t *testing.T) {
	_, sub1, sub2 := s.competing(t, "long job")
	var calls atomic.Int32
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	h := func(context.Context, *queue.Delivery) error {
		calls.Add(1)
		started <- struct{}{}
		<-release
		return nil
	}
	stop1 := consume(t, sub1, h, &queue.ConsumeOptions{Concurrency: 1})
	s.eventually(t, 5*time.Second, "handler started", func() bool { return calls.Load() == 1 })
	<-started
	stop2 := consume(t, sub2, h, &queue.ConsumeOptions{Concurrency: 1})
	s.pass(3 * s.Visibility)
	if n := calls.Load(); n != 1 {
		close(release)
		t.Fatalf("handler called %d times while the first call ran for 3 visibility timeouts with heartbeats", n)
	}
	close(release)
	s.eventually(t, 5*time.Second, "message acked", func() bool { return s.stats(t, sub1).Backlog == 0 })
	_, _ = stop1(), stop2()
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times for one message", n)
	}
}

// testMaxDeliveries: a message whose handler always fails is retried and
// then dead-lettered with the reason, last error and delivery count.
func (s *suite) testMaxDeliveries(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	o := s.subOpts()
	o.MaxDeliveries = 3
	sub := s.subscribe(t, q, tp, "s", o)
	ids := s.publish(t, q, tp, queue.Message{Body: []byte("fails")})
	var calls atomic.Int32
	stop := consume(t, sub, func(_ context.Context, d *queue.Delivery) error {
		n := calls.Add(1)
		return fmt.Errorf("attempt %d failed", n)
	}, nil)
	s.eventually(t, 10*time.Second, "message dead-lettered", func() bool { return s.stats(t, sub).DeadLetters == 1 })
	_ = stop()
	if n := calls.Load(); n != 3 {
		t.Errorf("handler called %d times with MaxDeliveries 3", n)
	}
	dl, err := sub.DeadLetter(context.Background(), ids[0])
	if err != nil {
		t.Fatalf("DeadLetter(%q): %v", ids[0], err)
	}
	if dl.Deliveries != 3 || dl.Reason != queue.ReasonMaxDeliveries || dl.LastError != "attempt 3 failed" || string(dl.Body) != "fails" {
		t.Errorf("dead letter %+v; want 3 deliveries, reason %q, last error %q", dl, queue.ReasonMaxDeliveries, "attempt 3 failed")
	}
	if st := s.stats(t, sub); st.Backlog != 0 {
		t.Errorf("backlog %d after the only message died", st.Backlog)
	}
}

// testCrashLoop: a message whose consumer dies every time (lease taken,
// never settled) goes to the dead-letter queue once it is past
// MaxDeliveries, without running a handler again.
func (s *suite) testCrashLoop(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	o := s.subOpts()
	o.MaxDeliveries = 2
	sub := s.subscribe(t, q, tp, "s", o)
	ids := s.publish(t, q, tp, queue.Message{Body: []byte("crashes its consumer")})
	dead := s.New(t)
	for i := 1; i <= 2; i++ {
		var got int
		s.eventually(t, 2*s.Visibility+time.Second, fmt.Sprintf("delivery %d to a consumer that dies", i), func() bool {
			ds, err := dead.Receive(context.Background(), tp, "s", 1, s.Visibility)
			if err == nil && len(ds) == 1 {
				got = ds[0].Deliveries
				return true
			}
			return false
		})
		if got != i {
			t.Fatalf("delivery %d has a delivery count of %d", i, got)
		}
	}
	if d := s.receive(t, sub, 2*s.Visibility+time.Second); d != nil {
		t.Fatalf("message delivered a 3rd time (Deliveries %d) with MaxDeliveries 2; want it dead-lettered", d.Deliveries)
	}
	dl, err := sub.DeadLetter(context.Background(), ids[0])
	if err != nil {
		t.Fatalf("DeadLetter: %v (a message past MaxDeliveries must go to the DLQ)", err)
	}
	if dl.Reason != queue.ReasonMaxDeliveries || dl.Deliveries != 3 {
		t.Errorf("dead letter reason %q deliveries %d; want %q and 3", dl.Reason, dl.Deliveries, queue.ReasonMaxDeliveries)
	}
}

// testNackPolicies checks every outcome a handler can ask for.
func (s *suite) testNackPolicies(t *testing.T) {
	ctx := context.Background()
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)

	t.Run("DeadLetterNow", func(t *testing.T) {
		ids := s.publish(t, q, tp, queue.Message{Body: []byte("dl")})
		d := s.receive(t, sub, 5*time.Second)
		if d == nil {
			t.Fatal("nothing delivered")
		}
		if err := d.Nack(ctx, queue.DeadLetterNow, errors.New("malformed")); err != nil {
			t.Fatal(err)
		}
		dl, err := sub.DeadLetter(ctx, ids[0])
		if err != nil || dl.Reason != queue.ReasonRejected || dl.Deliveries != 1 || dl.LastError != "malformed" {
			t.Errorf("DeadLetter = %+v, %v; want reason %q, 1 delivery, last error malformed", dl, err, queue.ReasonRejected)
		}
	})
	t.Run("Drop", func(t *testing.T) {
		ids := s.publish(t, q, tp, queue.Message{Body: []byte("drop")})
		d := s.receive(t, sub, 5*time.Second)
		if d == nil {
			t.Fatal("nothing delivered")
		}
		if err := d.Nack(ctx, queue.Drop, errors.New("obsolete")); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.DeadLetter(ctx, ids[0]); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("a dropped message is in the DLQ (err %v)", err)
		}
		if d := s.receive(t, sub, 200*time.Millisecond); d != nil {
			t.Errorf("a dropped message was delivered again")
		}
	})
	t.Run("RetryAfter", func(t *testing.T) {
		s.publish(t, q, tp, queue.Message{Body: []byte("later")})
		d := s.receive(t, sub, 5*time.Second)
		if d == nil {
			t.Fatal("nothing delivered")
		}
		delay := s.Visibility / 2
		start := s.now()
		if err := d.Nack(ctx, queue.RetryAfter(delay), errors.New("busy")); err != nil {
			t.Fatal(err)
		}
		d2 := s.receive(t, sub, delay+5*time.Second)
		if d2 == nil {
			t.Fatal("not delivered again after RetryAfter")
		}
		if el := s.now().Sub(start); el < delay {
			t.Errorf("delivered again after %v, before the RetryAfter delay %v", el, delay)
		}
		if d2.Deliveries != 2 || d2.LastError != "busy" {
			t.Errorf("retry has deliveries %d last error %q", d2.Deliveries, d2.LastError)
		}
		_ = d2.Ack(ctx)
	})
	t.Run("HandlerErrorAndPanicFollowOnError", func(t *testing.T) {
		o := s.subOpts()
		o.OnError = queue.DeadLetterNow
		sub := s.subscribe(t, q, tp, "dl-on-error", o)
		ids := s.publish(t, q, tp, queue.Message{Body: []byte("err")}, queue.Message{Body: []byte("panic")})
		stop := consume(t, sub, func(_ context.Context, d *queue.Delivery) error {
			if string(d.Body) == "panic" {
				panic("boom")
			}
			return errors.New("plain error")
		}, nil)
		s.eventually(t, 5*time.Second, "both dead-lettered", func() bool { return s.stats(t, sub).DeadLetters == 2 })
		_ = stop()
		for i, want := range []string{"plain error", "boom"} {
			dl, err := sub.DeadLetter(ctx, ids[i])
			if err != nil || dl.Reason != queue.ReasonRejected || !strings.Contains(dl.LastError, want) || dl.Deliveries != 1 {
				t.Errorf("dead letter %d = %+v, %v; want reason %q, 1 delivery, error containing %q", i, dl, err, queue.ReasonRejected, want)
			}
		}
	})
	t.Run("RetryBackoffIsBounded", func(t *testing.T) {
		o := s.subOpts()
		o.MaxDeliveries = 4
		sub := s.subscribe(t, q, tp, "backoff", o)
		s.publish(t, q, tp, queue.Message{Body: []byte("always nacks")})
		var calls atomic.Int32
		stop := consume(t, sub, func(context.Context, *queue.Delivery) error {
			calls.Add(1)
			return queue.Nack(queue.RetryBackoff, errors.New("nope"))
		}, nil)
		s.eventually(t, 10*time.Second, "dead-lettered after 4 deliveries", func() bool { return s.stats(t, sub).DeadLetters == 1 })
		_ = stop()
		if n := calls.Load(); n != 4 {
			t.Errorf("handler ran %d times; an explicit retry nack must still stop at MaxDeliveries 4", n)
		}
	})
}

// testPoison: a message that panics every time dies without holding up
// other messages, including later messages of its own key once it died.
func (s *suite) testPoison(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	o := s.subOpts()
	o.MaxDeliveries = 2
	sub := s.subscribe(t, q, tp, "s", o)
	msgs := []queue.Message{{Body: []byte("poison"), Key: "a"}, {Body: []byte("a-after"), Key: "a"}}
	for i := 0; i < 20; i++ {
		msgs = append(msgs, queue.Message{Body: []byte(fmt.Sprintf("other-%d", i)), Key: fmt.Sprintf("k%d", i%4)})
	}
	s.publish(t, q, tp, msgs...)
	var mu sync.Mutex
	var order []string
	stop := consume(t, sub, func(_ context.Context, d *queue.Delivery) error {
		if string(d.Body) == "poison" {
			panic("cannot decode")
		}
		mu.Lock()
		order = append(order, string(d.Body))
		mu.Unlock()
		return nil
	}, &queue.ConsumeOptions{Concurrency: 4})
	s.eventually(t, 10*time.Second, "all good messages handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == len(msgs)-1
	})
	_ = stop()
	if st := s.stats(t, sub); st.DeadLetters != 1 || st.Backlog != 0 {
		t.Errorf("stats %+v; want the poison message in the DLQ and an empty backlog", st)
	}
}

func (s *suite) now() time.Time {
	if s.fake() {
		return s.Clock.Now()
	}
	return time.Now()
}
