package queuetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/queue"
)

func (s *suite) testBadInput(t *testing.T) {
	q := s.queue(t, &queue.Options{MaxBody: 1024})
	ctx := context.Background()
	tp := topicName(t)
	check := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want an error wrapping %v", what, err, want)
		}
	}
	_, err := q.Publish(ctx, "", queue.Message{Body: []byte("x")})
	check("Publish to an empty topic", err, queue.ErrInvalidName)
	_, err = q.Publish(ctx, strings.Repeat("t", queue.MaxNameLen+1), queue.Message{})
	check("Publish to a topic name over MaxNameLen", err, queue.ErrInvalidName)
	_, err = q.Publish(ctx, tp)
	check("Publish of no messages", err, queue.ErrInvalidMessage)
	_, err = q.Publish(ctx, tp, queue.Message{Body: make([]byte, 1025)})
	check("Publish of a body over MaxBody", err, queue.ErrTooLarge)
	_, err = q.Publish(ctx, tp, queue.Message{Delay: -time.Second})
	check("Publish with a negative delay", err, queue.ErrInvalidDelay)
	_, err = q.Publish(ctx, tp, queue.Message{Delay: time.Second, NotBefore: time.Now().Add(time.Hour)})
	check("Publish with Delay and NotBefore", err, queue.ErrInvalidMessage)
	_, err = q.Publish(ctx, tp, queue.Message{Priority: queue.MaxPriority + 1})
	check("Publish with a priority over MaxPriority", err, queue.ErrInvalidPriority)
	_, err = q.Publish(ctx, tp, queue.Message{Headers: map[string]string{"": "v"}})
	check("Publish with an empty header name", err, queue.ErrInvalidMessage)
	_, err = q.Publish(ctx, tp, queue.Message{Key: strings.Repeat("k", queue.MaxNameLen+1)})
	check("Publish with an ordering key over MaxNameLen", err, queue.ErrInvalidMessage)
	_, err = q.Publish(ctx, tp, queue.Message{Key: "a\x00b"})
	check("Publish with a NUL byte in the key", err, queue.ErrInvalidMessage)
	_, err = q.Publish(ctx, tp, queue.Message{Headers: map[string]string{"h": "\xff\xfe"}})
	check("Publish with a header value that is not UTF-8", err, queue.ErrInvalidMessage)
	_, err = q.Publish(ctx, "topic\x00", queue.Message{})
	check("Publish to a topic with a NUL byte", err, queue.ErrInvalidName)
	// One bad message fails the batch before anything is stored.
	sub := s.subscribe(t, q, tp, "s", nil)
	_, err = q.Publish(ctx, tp, queue.Message{Body: []byte("ok")}, queue.Message{Delay: -1})
	check("Publish of a batch with one bad message", err, queue.ErrInvalidDelay)
	if st := s.stats(t, sub); st.Backlog != 0 {
		t.Errorf("a rejected batch left %d messages in the backlog", st.Backlog)
	}
	_, err = q.Subscribe(ctx, tp, "", nil)
	check("Subscribe with an empty name", err, queue.ErrInvalidName)
	_, err = q.Subscribe(ctx, "", "s", nil)
	check("Subscribe to an empty topic", err, queue.ErrInvalidName)
	_, err = q.Subscribe(ctx, tp, "s", &queue.SubscriptionOptions{Visibility: -time.Second})
	check("Subscribe with a negative visibility", err, queue.ErrInvalidOptions)
	_, err = q.Subscribe(ctx, tp, "s", &queue.SubscriptionOptions{Visibility: time.Second, HeartbeatEvery: time.Second})
	check("Subscribe with a heartbeat not shorter than the visibility", err, queue.ErrInvalidOptions)
	_, err = q.Subscribe(ctx, tp, "s", &queue.SubscriptionOptions{OnError: queue.RetryAfter(-time.Second)})
	check("Subscribe with OnError RetryAfter(-1s)", err, queue.ErrInvalidDelay)
	check("Consume with a nil handler", sub.Consume(ctx, nil, nil), queue.ErrNilHandler)
	check("Consume with a negative concurrency", sub.Consume(ctx, func(context.Context, *queue.Delivery) error { return nil },
		&queue.ConsumeOptions{Concurrency: -1}), queue.ErrInvalidOptions)
	_, err = sub.DeadLetters(ctx, "", 0)
	check("DeadLetters with limit 0", err, queue.ErrInvalidOptions)
	_, err = sub.DeadLetter(ctx, "no-such-id")
	check("DeadLetter of an unknown id", err, queue.ErrNotFound)

	// A nack with a negative RetryAfter is refused and leaves the lease.
	s.publish(t, q, tp, queue.Message{Body: []byte("x")})
	d := s.receive(t, sub, 5*time.Second)
	if d == nil {
		t.Fatal("Receive: nothing delivered")
	}
	check("Nack with RetryAfter(-1s)", d.Nack(ctx, queue.RetryAfter(-time.Second), nil), queue.ErrInvalidDelay)
	if err := d.Ack(ctx); err != nil {
		t.Errorf("Ack after a refused Nack: %v", err)
	}
	check("a second Ack", d.Ack(ctx), queue.ErrNotLeased)

	_ = q.Close()
	_, err = q.Publish(ctx, tp, queue.Message{})
	check("Publish after Close", err, queue.ErrClosed)
}

func (s *suite) testPublishConsume(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	const n = 50
	msgs := make([]queue.Message, n)
	for i := range msgs {
		msgs[i] = queue.Message{Body: []byte(fmt.Sprintf("m%d", i)), Headers: map[string]string{"i": fmt.Sprint(i)}}
	}
	ids := s.publish(t, q, tp, msgs...)
	if len(ids) != n {
		t.Fatalf("Publish returned %d ids for %d messages", len(ids), n)
	}
	seenID := map[string]bool{}
	for _, id := range ids {
		if id == "" || seenID[id] {
			t.Fatalf("Publish returned an empty or repeated id %q", id)
		}
		seenID[id] = true
	}
	var c counter
	bad := make(chan string, n)
	stop := consume(t, sub, func(_ context.Context, d *queue.Delivery) error {
		if !seenID[d.ID] {
			bad <- "unknown id " + d.ID
		} else if want := "m" + d.Headers["i"]; string(d.Body) != want {
			bad <- fmt.Sprintf("body %q with header i=%q", d.Body, d.Headers["i"])
		} else if d.Deliveries != 1 {
			bad <- fmt.Sprintf("first delivery of %s has Deliveries %d", d.ID, d.Deliveries)
		}
		c.add(d.ID)
		return nil
	}, &queue.ConsumeOptions{Concurrency: 4})
	s.eventually(t, 5*time.Second, "all messages handled", func() bool { return c.distinct() == n })
	var last queue.Stats
	if !s.within(5*time.Second, func() bool { last = s.stats(t, sub); return last.Backlog == 0 }) {
		// Say what is left, so that a failure tells leased from lost.
		t.Fatalf("backlog not empty after acks: %+v; handled %d deliveries of %d messages", last, c.total(), c.distinct())
	}
	if err := stop(); err != nil {
		t.Errorf("Consume returned %v after its context ended, want nil", err)
	}
	close(bad)
	for b := range bad {
		t.Error(b)
	}
	if c.total() != n {
		t.Errorf("handled %d deliveries of %d messages with no failures", c.total(), n)
	}
}

func (s *suite) testFanOut(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	a := s.subscribe(t, q, tp, "a", nil)
	b := s.subscribe(t, q, tp, "b", nil)
	s.publish(t, q, tp, queue.Message{Body: []byte("1")}, queue.Message{Body: []byte("2")})
	late := s.subscribe(t, q, tp, "late", nil)
	s.publish(t, q, tp, queue.Message{Body: []byte("3")})
	for _, c := range []struct {
		sub  *queue.Subscription
		want int
	}{{a, 3}, {b, 3}, {late, 1}} {
		got := 0
		for got < c.want {
			d := s.receive(t, c.sub, 5*time.Second)
			if d == nil {
				break
			}
			got++
			_ = d.Ack(context.Background())
		}
		if got != c.want {
			t.Errorf("subscription %q got %d messages, want %d (every subscription gets its own copy of what is published after it exists)", c.sub.Name(), got, c.want)
		}
		if d := s.receive(t, c.sub, 100*time.Millisecond); d != nil {
			t.Errorf("subscription %q got an extra message %q", c.sub.Name(), d.Body)
		}
	}
}

func (s *suite) testCompetingConsumers(t *testing.T) {
	q1, q2 := s.queue(t, nil), s.queue(t, nil)
	tp := topicName(t)
	s1 := s.subscribe(t, q1, tp, "work", nil)
	s2 := s.subscribe(t, q2, tp, "work", nil)
	const n = 60
	msgs := make([]queue.Message, n)
	for i := range msgs {
		msgs[i].Body = []byte(fmt.Sprint(i))
	}
	s.publish(t, q1, tp, msgs...)
	var c counter
	var by [2]counter
	h := func(i int) queue.Handler {
		return func(_ context.Context, d *queue.Delivery) error {
			c.add(d.ID)
			by[i].add(d.ID)
			return nil
		}
	}
	stop1 := consume(t, s1, h(0), &queue.ConsumeOptions{Concurrency: 2})
	stop2 := consume(t, s2, h(1), &queue.ConsumeOptions{Concurrency: 2})
	s.eventually(t, 5*time.Second, "all messages handled", func() bool { return c.distinct() == n })
	_, _ = stop1(), stop2()
	if c.total() != n {
		t.Errorf("%d deliveries for %d messages: competing consumers of one subscription must not both get a message", c.total(), n)
	}
}

func (s *suite) testDedup(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	s.publish(t, q, tp, queue.Message{Body: []byte("a"), DedupID: "order-1"})
	s.publish(t, q, tp, queue.Message{Body: []byte("a again"), DedupID: "order-1"}, queue.Message{Body: []byte("b"), DedupID: "order-2"})
	s.publish(t, q, tp, queue.Message{Body: []byte("no dedup id")}, queue.Message{Body: []byte("no dedup id")})
	var got []string
	for {
		d := s.receive(t, sub, 300*time.Millisecond)
		if d == nil {
			break
		}
		got = append(got, string(d.Body))
		_ = d.Ack(context.Background())
	}
	if len(got) != 4 {
		t.Fatalf("delivered %q; want a, b and both messages without a dedup id (the repeat of order-1 dropped)", got)
	}
	for _, g := range got {
		if g == "a again" {
			t.Fatalf("a message with a repeated DedupID was delivered: %q", got)
		}
	}
}

func (s *suite) testReceiveLoop(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	ctx := context.Background()
	s.publish(t, q, tp, queue.Message{Body: []byte("x"), Key: "k", Headers: map[string]string{"h": "v"}, Priority: 2})
	d := s.receive(t, sub, 5*time.Second)
	if d == nil {
		t.Fatal("Receive returned nothing")
	}
	if string(d.Body) != "x" || d.Key != "k" || d.Headers["h"] != "v" || d.Priority != 2 || d.Deliveries != 1 || d.PublishedAt.IsZero() {
		t.Fatalf("delivered %+v; want body x, key k, header h=v, priority 2, first delivery, a publish time", d)
	}
	if err := d.Nack(ctx, queue.RetryAfter(0), errors.New("try again")); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	if err := d.Extend(ctx); !errors.Is(err, queue.ErrNotLeased) {
		t.Errorf("Extend of a settled delivery = %v, want ErrNotLeased", err)
	}
	d2 := s.receive(t, sub, 5*time.Second)
	if d2 == nil {
		t.Fatal("a message nacked with RetryAfter(0) was not delivered again")
	}
	if d2.ID != d.ID || d2.Deliveries != 2 || d2.LastError != "try again" {
		t.Fatalf("redelivery: id %q deliveries %d last error %q; want id %q, 2, %q", d2.ID, d2.Deliveries, d2.LastError, d.ID, "try again")
	}
	if err := d2.Extend(ctx); err != nil {
		t.Errorf("Extend of a live delivery: %v", err)
	}
	if err := d2.Ack(ctx); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := d.Ack(ctx); !errors.Is(err, queue.ErrNotLeased) {
		t.Errorf("Ack of the first, settled delivery = %v, want ErrNotLeased", err)
	}
}

// testTraceContext checks that Publish puts the trace context of its ctx
// in the headers and the handler's ctx continues that trace.
func (s *suite) testTraceContext(t *testing.T) {
	q := s.queue(t, &queue.Options{Propagator: propagation.TraceContext{}})
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	if _, err := q.Publish(ctx, tp, queue.Message{Body: []byte("traced")}); err != nil {
		t.Fatal(err)
	}
	got := make(chan trace.TraceID, 1)
	hdr := make(chan string, 1)
	stop := consume(t, sub, func(ctx context.Context, d *queue.Delivery) error {
		got <- trace.SpanContextFromContext(ctx).TraceID()
		hdr <- d.Headers["traceparent"]
		return nil
	}, nil)
	var g trace.TraceID
	s.eventually(t, 5*time.Second, "message handled", func() bool {
		select {
		case g = <-got:
			return true
		default:
			return false
		}
	})
	_ = stop()
	if g != tid {
		t.Errorf("handler's trace id %v, want the producer's %v (traceparent header %q)", g, tid, <-hdr)
	}
}
