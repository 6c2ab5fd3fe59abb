package queuetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
)

// OrderChecker checks per-key ordering over a sequence of handled
// messages: for every key, the messages acked must be in publish order
// (sequence numbers increasing, none skipped), and no two handlers of one
// key may run at once. It is safe for concurrent use.
type OrderChecker struct {
	mu      sync.Mutex
	next    map[string]int // next expected sequence per key
	running map[string]int
	errs    []string
}

// NewOrderChecker returns an empty checker.
func NewOrderChecker() *OrderChecker {
	return &OrderChecker{next: map[string]int{}, running: map[string]int{}}
}

// Begin records that a handler of key started.
func (c *OrderChecker) Begin(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running[key]++
	if c.running[key] > 1 {
		c.errs = append(c.errs, fmt.Sprintf("key %q: %d handlers running at once", key, c.running[key]))
	}
}

// End records that the handler of key finished; done says it acked
// message seq (its position in the key's publish order, from 0).
func (c *OrderChecker) End(key string, seq int, done bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running[key]--
	if !done {
		return
	}
	if want := c.next[key]; seq != want {
		c.errs = append(c.errs, fmt.Sprintf("key %q: message %d acked when %d was next", key, seq, want))
	}
	c.next[key] = seq + 1
}

// Errors returns the violations seen.
func (c *OrderChecker) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// Acked returns how many messages of key were acked in order.
func (c *OrderChecker) Acked(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next[key]
}

// testPerKeyOrder: several consumers with many handlers each, random
// failures and retries: every key's messages are acked in publish order
// and never handled concurrently.
func (s *suite) testPerKeyOrder(t *testing.T) {
	q1, q2 := s.queue(t, nil), s.queue(t, nil)
	tp := topicName(t)
	o := s.subOpts()
	o.MaxDeliveries = 1000
	o.OnError = queue.RetryAfter(0)
	sub1 := s.subscribe(t, q1, tp, "s", o)
	sub2 := s.subscribe(t, q2, tp, "s", o)
	const keys, per = 8, 15
	var msgs []queue.Message
	for i := 0; i < per; i++ {
		for k := 0; k < keys; k++ {
			msgs = append(msgs, queue.Message{Key: fmt.Sprintf("key-%d", k), Body: []byte(strconv.Itoa(i))})
		}
	}
	// Publish in several batches, as producers would.
	for i := 0; i < len(msgs); i += 20 {
		s.publish(t, q1, tp, msgs[i:min(i+20, len(msgs))]...)
	}
	oc := NewOrderChecker()
	var failures atomic.Int32
	h := func(_ context.Context, d *queue.Delivery) error {
		seq, _ := strconv.Atoi(string(d.Body))
		oc.Begin(d.Key)
		for i := 0; i < rand.IntN(20); i++ {
			runtime.Gosched()
		}
		if rand.IntN(5) == 0 {
			failures.Add(1)
			oc.End(d.Key, seq, false)
			return errors.New("random failure")
		}
		oc.End(d.Key, seq, true)
		return nil
	}
	stop1 := consume(t, sub1, h, &queue.ConsumeOptions{Concurrency: 6})
	stop2 := consume(t, sub2, h, &queue.ConsumeOptions{Concurrency: 6})
	s.eventually(t, 20*time.Second, "all keys done", func() bool {
		for k := 0; k < keys; k++ {
			if oc.Acked(fmt.Sprintf("key-%d", k)) < per {
				return false
			}
		}
		return true
	})
	_, _ = stop1(), stop2()
	for _, e := range oc.Errors() {
		t.Error(e)
	}
	if failures.Load() == 0 {
		t.Log("no random failures happened (the retry path was not exercised this run)")
	}
}

// testSlowKey: a key whose handler blocks holds up only its own later
// messages; the other keys are all handled meanwhile.
func (s *suite) testSlowKey(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	msgs := []queue.Message{{Key: "slow", Body: []byte("slow-0")}, {Key: "slow", Body: []byte("slow-1")}}
	for i := 0; i < 30; i++ {
		msgs = append(msgs, queue.Message{Key: fmt.Sprintf("fast-%d", i%5), Body: []byte(fmt.Sprintf("fast-%d", i))})
	}
	s.publish(t, q, tp, msgs...)
	release := make(chan struct{})
	var fast, slow atomic.Int32
	stop := consume(t, sub, func(_ context.Context, d *queue.Delivery) error {
		if d.Key == "slow" {
			if string(d.Body) == "slow-0" {
				<-release
			}
			slow.Add(1)
			return nil
		}
		fast.Add(1)
		return nil
	}, &queue.ConsumeOptions{Concurrency: 3})
	s.eventually(t, 10*time.Second, "fast keys handled while the slow key blocks", func() bool { return fast.Load() == 30 })
	if n := slow.Load(); n != 0 {
		t.Errorf("slow-1 was handled (%d) while slow-0 of the same key was still running", n)
	}
	close(release)
	s.eventually(t, 10*time.Second, "slow key done", func() bool { return slow.Load() == 2 })
	_ = stop()
}

// testPriority: among ready messages, higher priority is delivered first.
func (s *suite) testPriority(t *testing.T) {
	if s.NoPriority {
		t.Skip("the backend declares it cannot order by priority (Harness.NoPriority)")
	}
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	s.publish(t, q, tp,
		queue.Message{Body: []byte("low"), Priority: queue.PriorityLow},
		queue.Message{Body: []byte("normal-1")},
		queue.Message{Body: []byte("high"), Priority: queue.PriorityHigh},
		queue.Message{Body: []byte("normal-2")},
		queue.Message{Body: []byte("urgent"), Priority: queue.MaxPriority})
	var got []string
	for len(got) < 5 {
		d := s.receive(t, sub, 5*time.Second)
		if d == nil {
			break
		}
		got = append(got, string(d.Body))
		_ = d.Ack(context.Background())
	}
	if want := "urgent high normal-1 normal-2 low"; strings.Join(got, " ") != want {
		t.Errorf("delivered %q, want %q", strings.Join(got, " "), want)
	}
}

// testDelayed: a delayed message is not delivered before its time, and is
// delivered after it; NotBefore schedules the same way.
func (s *suite) testDelayed(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	delay := s.Visibility
	start := s.now()
	s.publish(t, q, tp, queue.Message{Body: []byte("delayed"), Delay: delay},
		queue.Message{Body: []byte("scheduled"), NotBefore: start.Add(delay + delay/2)})
	var got []string
	if d := s.receive(t, sub, delay/2); d != nil {
		// A loaded machine may overrun the wait; only early is wrong.
		if el := s.now().Sub(start); el < delay || string(d.Body) != "delayed" {
			t.Fatalf("%q delivered after %v, before its delay %v", d.Body, el, delay)
		}
		got = append(got, string(d.Body))
		_ = d.Ack(context.Background())
	}
	for len(got) < 2 {
		d := s.receive(t, sub, 2*delay+5*time.Second)
		if d == nil {
			t.Fatalf("delayed messages not delivered (got %q)", got)
		}
		el := s.now().Sub(start)
		switch string(d.Body) {
		case "delayed":
			if el < delay {
				t.Errorf("delayed message delivered after %v, before %v", el, delay)
			}
		case "scheduled":
			if el < delay+delay/2 {
				t.Errorf("scheduled message delivered after %v, before %v", el, delay+delay/2)
			}
		}
		got = append(got, string(d.Body))
		_ = d.Ack(context.Background())
	}
	if got[0] != "delayed" {
		t.Errorf("delivered %q; the earlier-scheduled message should come first", got)
	}
}

// testBackpressure: a consumer with slow handlers leases at most
// Concurrency + Prefetch messages.
func (s *suite) testBackpressure(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	msgs := make([]queue.Message, 20)
	s.publish(t, q, tp, msgs...)
	release := make(chan struct{})
	var running atomic.Int32
	stop := consume(t, sub, func(context.Context, *queue.Delivery) error {
		running.Add(1)
		<-release
		return nil
	}, &queue.ConsumeOptions{Concurrency: 2, Prefetch: 3})
	s.eventually(t, 5*time.Second, "2 handlers running", func() bool { return running.Load() == 2 })
	s.eventually(t, 5*time.Second, "prefetch filled", func() bool { return s.stats(t, sub).InFlight >= 5 })
	s.pass(200 * time.Millisecond)
	if st := s.stats(t, sub); st.InFlight != 5 || running.Load() != 2 {
		t.Errorf("%d leased, %d handlers running; want 5 leased (Concurrency 2 + Prefetch 3), 2 running", st.InFlight, running.Load())
	}
	close(release)
	s.eventually(t, 10*time.Second, "all handled", func() bool { return s.stats(t, sub).Backlog == 0 })
	_ = stop()
}

// testShutdown: when the context ends, running handlers finish and are
// acked, prefetched messages are released at once, and Consume returns
// nil.
func (s *suite) testShutdown(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	s.publish(t, q, tp, make([]queue.Message, 10)...)
	release := make(chan struct{})
	var started, finished atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- sub.Consume(ctx, func(context.Context, *queue.Delivery) error {
			started.Add(1)
			<-release
			finished.Add(1)
			return nil
		}, &queue.ConsumeOptions{Concurrency: 2, Prefetch: 4, ShutdownTimeout: time.Minute})
	}()
	s.eventually(t, 5*time.Second, "handlers running and prefetch full", func() bool {
		return started.Load() == 2 && s.stats(t, sub).InFlight == 6
	})
	cancel()
	// The prefetched messages go back while the handlers still run.
	s.eventually(t, 5*time.Second, "prefetched messages released", func() bool { return s.stats(t, sub).InFlight == 2 })
	close(release)
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Consume after a graceful drain = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Consume did not return after its handlers finished")
	}
	if finished.Load() != 2 || started.Load() != 2 {
		t.Errorf("%d handlers started, %d finished; want 2 and 2", started.Load(), finished.Load())
	}
	// A replicated engine (a JetStream cluster) applies an ack just after
	// Ack returns, so the counts may take a moment to agree.
	var st queue.Stats
	ok := s.until(5*time.Second, func() bool {
		st = s.stats(t, sub)
		return st.Backlog == 8 && st.InFlight == 0
	})
	if !ok {
		t.Errorf("after the drain: %+v; want the 2 handled messages acked, 8 left, none leased", st)
	}
}

// testShutdownDeadline: a handler still running at the shutdown deadline
// has its context cancelled, Consume returns ErrDrainTimeout, and the
// message is delivered again later.
func (s *suite) testShutdownDeadline(t *testing.T) {
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	s.publish(t, q, tp, queue.Message{Body: []byte("stuck")})
	var started atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- sub.Consume(ctx, func(hctx context.Context, _ *queue.Delivery) error {
			started.Add(1)
			<-hctx.Done()
			return hctx.Err()
		}, &queue.ConsumeOptions{Concurrency: 1, ShutdownTimeout: 100 * time.Millisecond})
	}()
	s.eventually(t, 5*time.Second, "handler running", func() bool { return started.Load() == 1 })
	cancel()
	err := s.consumeResult(t, errc)
	if !errors.Is(err, queue.ErrDrainTimeout) {
		t.Errorf("Consume = %v, want ErrDrainTimeout", err)
	}
	d := s.receive(t, sub, 2*s.Visibility+5*time.Second)
	if d == nil || d.Deliveries != 2 {
		t.Fatalf("the interrupted message was not delivered again (%+v)", d)
	}
	_ = d.Ack(context.Background())
}
