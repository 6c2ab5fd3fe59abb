package queuetest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
)

// suite carries the harness with its defaults applied.
type suite struct {
	Harness
	top string // name of the top-level test that called Run
}

func (s *suite) fake() bool { return s.Clock != nil }

// queue returns a Queue over a new handle.
func (s *suite) queue(t *testing.T, o *queue.Options) *queue.Queue {
	t.Helper()
	var opts queue.Options
	if o != nil {
		opts = *o
	}
	if s.Clock != nil {
		opts.Clock = s.Clock
	}
	q, err := queue.New(s.New(t), &opts)
	if err != nil {
		t.Fatalf("queue.New: %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// subOpts returns subscription options fit for the suite: the harness's
// visibility, fast polls and short backoffs.
func (s *suite) subOpts() *queue.SubscriptionOptions {
	return &queue.SubscriptionOptions{
		Visibility:   s.Visibility,
		PollInterval: 50 * time.Millisecond,
		PollMin:      2 * time.Millisecond,
		Backoff:      queue.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond},
	}
}

func (s *suite) subscribe(t *testing.T, q *queue.Queue, topic, name string, o *queue.SubscriptionOptions) *queue.Subscription {
	t.Helper()
	if o == nil {
		o = s.subOpts()
	}
	sub, err := q.Subscribe(context.Background(), topic, name, o)
	if err != nil {
		t.Fatalf("Subscribe(%q, %q): %v", topic, name, err)
	}
	return sub
}

var nameSeq atomic.Int64

// topicName returns a topic name unique to t, this process and this call.
func topicName(t *testing.T) string {
	n := strings.NewReplacer("/", ".", " ", "_", ":", "_").Replace(t.Name())
	if len(n) > 120 {
		n = n[len(n)-120:]
	}
	return fmt.Sprintf("qt.%s.%d.%d.%d", n, os.Getpid(), time.Now().UnixNano()%1e9, nameSeq.Add(1))
}

func (s *suite) publish(t *testing.T, q *queue.Queue, topic string, msgs ...queue.Message) []string {
	t.Helper()
	ids, err := q.Publish(context.Background(), topic, msgs...)
	if err != nil {
		t.Fatalf("Publish to %q: %v", topic, err)
	}
	return ids
}

// pass lets d go by: it advances the fake clock in steps, or sleeps.
func (s *suite) pass(d time.Duration) {
	if !s.fake() {
		time.Sleep(d)
		return
	}
	step := max(s.Visibility/20, time.Millisecond)
	for d > 0 {
		st := min(step, d)
		s.stepClock(st)
		d -= st
	}
}

// stepClock advances the fake clock by d and waits briefly (real time)
// until timers that fired and re-armed themselves are back.
func (s *suite) stepClock(d time.Duration) {
	n := s.Clock.Waiters()
	s.Clock.Advance(d)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_ = s.Clock.BlockUntil(ctx, n)
	cancel()
	// Let the goroutines woken by the step run before the next one.
	time.Sleep(500 * time.Microsecond)
}

// eventually waits until cond holds: on a fake clock it advances time in
// small steps up to limit, then waits a few real seconds; on the real
// clock it polls until limit plus a grace period for a loaded machine.
func (s *suite) eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	if !s.within(limit, cond) {
		if s.fake() {
			t.Fatalf("%s: not true within %v of fake time", what, limit)
		}
		t.Fatalf("%s: not true within %v", what, limit)
	}
}

// within is eventually without the failure: it reports whether cond held
// in time.
func (s *suite) within(limit time.Duration, cond func() bool) bool {
	if s.fake() {
		step := max(s.Visibility/50, time.Millisecond)
		var deadline time.Time
		for passed := time.Duration(0); !cond(); passed += step {
			if passed <= limit {
				s.stepClock(step)
				continue
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(5 * time.Second)
			}
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(time.Millisecond)
		}
		return true
	}
	deadline := time.Now().Add(limit + 10*time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// competing returns two Queues' subscriptions to one subscription of a
// new topic, heartbeats every Visibility/4, after publishing one message
// with body through the first Queue, which it also returns.
func (s *suite) competing(t *testing.T, body string) (q1 *queue.Queue, sub1, sub2 *queue.Subscription) {
	t.Helper()
	q1, q2 := s.queue(t, nil), s.queue(t, nil)
	tp := topicName(t)
	o := s.subOpts()
	o.HeartbeatEvery = s.Visibility / 4
	sub1 = s.subscribe(t, q1, tp, "s", o)
	sub2 = s.subscribe(t, q2, tp, "s", o)
	s.publish(t, q1, tp, queue.Message{Body: []byte(body)})
	return q1, sub1, sub2
}

// consume runs sub.Consume in the background until the returned stop is
// called; stop returns Consume's result.
func consume(t *testing.T, sub *queue.Subscription, h queue.Handler, o *queue.ConsumeOptions) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- sub.Consume(ctx, h, o) }()
	var once sync.Once
	var res error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case res = <-errc:
			case <-time.After(30 * time.Second):
				res = fmt.Errorf("consume did not return within 30s of its context ending")
			}
		})
		return res
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// receive calls sub.Receive with a real-time bound; nil means nothing
// arrived. On a fake clock it advances time while it waits.
func (s *suite) receive(t *testing.T, sub *queue.Subscription, within time.Duration) *queue.Delivery {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type res struct {
		d   *queue.Delivery
		err error
	}
	ch := make(chan res, 1)
	go func() {
		d, err := sub.Receive(ctx)
		ch <- res{d, err}
	}()
	var got res
	done := false
	s.until(within, func() bool {
		select {
		case got = <-ch:
			done = true
		default:
		}
		return done
	})
	if !done {
		cancel()
		got = <-ch
		if got.err == nil && got.d != nil {
			return got.d // arrived at the last moment
		}
		return nil
	}
	if got.err != nil {
		t.Fatalf("Receive: %v", got.err)
	}
	return got.d
}

// until waits up to d (fake or real) for cond, without failing.
func (s *suite) until(d time.Duration, cond func() bool) bool {
	if s.fake() {
		step := max(s.Visibility/50, time.Millisecond)
		for passed := time.Duration(0); passed <= d; passed += step {
			if cond() {
				return true
			}
			s.stepClock(step)
		}
		return cond()
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return cond()
}

func (s *suite) stats(t *testing.T, sub *queue.Subscription) queue.Stats {
	t.Helper()
	st, err := sub.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// counter counts handled messages by id.
type counter struct {
	mu   sync.Mutex
	seen map[string]int
	n    int
}

func (c *counter) add(id string) {
	c.mu.Lock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[id]++
	c.n++
	c.mu.Unlock()
}

func (c *counter) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *counter) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[id]
}

// consumeResult waits (in the suite's time) up to 10 s for the error a
// Consume call sends on errc.
func (s *suite) consumeResult(t *testing.T, errc <-chan error) error {
	t.Helper()
	var err error
	s.eventually(t, 10*time.Second, "Consume returned", func() bool {
		select {
		case err = <-errc:
			return true
		default:
			return false
		}
	})
	return err
}
