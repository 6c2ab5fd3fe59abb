package queue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/queue/driver"
)

// Subscription is one subscription of a topic: the consumers of one
// Subscription compete for its messages, while each subscription of a
// topic receives every message (fan-out). Get one from Queue.Subscribe.
//
// A Subscription is safe for concurrent use: several Consume and Receive
// loops may run on it at once.
type Subscription struct {
	q     *Queue
	topic string
	name  string
	opts  SubscriptionOptions
	attrs metric.MeasurementOption
	add   []metric.AddOption // attrs, for Add without a slice per call

	hb heartbeat
}

func newSubscription(q *Queue, topic, name string, o SubscriptionOptions) *Subscription {
	s := &Subscription{q: q, topic: topic, name: name, opts: o, attrs: q.tel.subAttrs(name)}
	s.add = []metric.AddOption{s.attrs}
	s.hb.s = s
	return s
}

// Topic returns the topic's name.
func (s *Subscription) Topic() string { return s.topic }

// Name returns the subscription's name.
func (s *Subscription) Name() string { return s.name }

// Delivery is a message handed to a consumer. Its lease lasts the
// subscription's Visibility and is extended in the background until the
// delivery is settled (by Ack, Nack or Settle, or by the handler's return
// under Consume).
//
// A Delivery is safe for concurrent use; only the first settlement counts.
type Delivery struct {
	// ID is the message id given or generated at publish.
	ID string
	// Body is the payload; the consumer may keep it.
	Body []byte
	// Headers are the message headers (including trace context).
	Headers map[string]string
	// Key is the ordering key ("" for none).
	Key string
	// Priority is the message's priority.
	Priority int
	// PublishedAt is when the message was published.
	PublishedAt time.Time
	// Deliveries counts deliveries of this message, this one included.
	Deliveries int
	// LastError is the error of the previous failed delivery, or "".
	LastError string

	sub     *Subscription
	owner   *consumer // the Consume call holding it (nil: from Receive)
	handle  string
	settled atomic.Bool

	// heartbeat list links, guarded by sub.hb.mu
	hbPrev, hbNext *Delivery
	hbIn           bool
}

// deliverySlab is how many Deliveries of one fetched batch share an
// allocation (a Delivery kept by the caller keeps at most its slab alive).
const deliverySlab = 32

// wrap appends to out a Delivery for each of ds that is not poisoned
// (see poisoned), owned by c (nil for Receive), allocated in slabs of
// deliverySlab.
func (s *Subscription) wrap(ctx context.Context, out []*Delivery, ds []driver.Delivery, c *consumer) []*Delivery {
	var slab []Delivery
	for i := range ds {
		if s.poisoned(ctx, &ds[i]) {
			continue
		}
		if len(slab) == 0 {
			slab = make([]Delivery, min(deliverySlab, len(ds)-i))
		}
		d := &slab[0]
		slab = slab[1:]
		s.fill(d, &ds[i])
		d.owner = c
		out = append(out, d)
	}
	return out
}

// fill sets the fields of the zero Delivery out from d.
func (s *Subscription) fill(out *Delivery, d *driver.Delivery) {
	out.ID, out.Body, out.Headers, out.Key, out.Priority = d.ID, d.Body, d.Headers, d.Key, d.Priority
	out.PublishedAt, out.Deliveries, out.LastError = d.PublishedAt, d.Deliveries, d.LastError
	out.sub, out.handle = s, d.Handle
}

// Ack settles the delivery as done: the message is deleted.
func (d *Delivery) Ack(ctx context.Context) error {
	if !d.settled.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: delivery of %q already settled", ErrNotLeased, d.ID)
	}
	s := d.sub
	s.hb.untrack(d)
	err := s.q.d.Ack(ctx, s.topic, s.name, []string{d.handle})
	if err == nil {
		s.q.tel.acked.Add(context.Background(), 1, s.add...)
	}
	return opError("ack on", s.name, ctxErr(ctx, err))
}

// Nack settles the delivery with policy p and the failure err (which may
// be nil): retried, dead-lettered or dropped. A retry of a message that
// has used up MaxDeliveries goes to the dead-letter queue instead.
func (d *Delivery) Nack(ctx context.Context, p Policy, err error) error {
	return d.Settle(ctx, Nack(p, err))
}

// Settle settles the delivery as a handler's return value would: nil acks,
// an error made by Nack follows its policy, any other error follows the
// subscription's OnError policy.
func (d *Delivery) Settle(ctx context.Context, herr error) error {
	if herr == nil {
		return d.Ack(ctx)
	}
	n, err := d.sub.outcome(herr, d.Deliveries)
	if err != nil {
		return err
	}
	if !d.settled.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: delivery of %q already settled", ErrNotLeased, d.ID)
	}
	d.sub.hb.untrack(d)
	return d.sub.nack(ctx, d.handle, n)
}

// Extend moves the lease's deadline to now + the subscription's
// Visibility at once (the background heartbeat does this periodically).
// It returns ErrNotLeased when the lease is already over.
func (d *Delivery) Extend(ctx context.Context) error {
	if d.settled.Load() {
		return fmt.Errorf("%w: delivery of %q already settled", ErrNotLeased, d.ID)
	}
	s := d.sub
	return opError("extend on", s.name, ctxErr(ctx, s.q.d.Extend(ctx, s.topic, s.name, d.handle, s.opts.Visibility)))
}

func (s *Subscription) nack(ctx context.Context, handle string, n driver.Nack) error {
	err := s.q.d.Nack(ctx, s.topic, s.name, handle, n)
	if err == nil {
		s.q.tel.nacked(n.Action, s.add)
	}
	return opError("nack on", s.name, ctxErr(ctx, err))
}

// poisoned dead-letters a delivery past MaxDeliveries (a consumer that
// crashed on it every time) and reports whether it did.
func (s *Subscription) poisoned(ctx context.Context, d *driver.Delivery) bool {
	if d.Deliveries <= s.opts.MaxDeliveries {
		return false
	}
	n := driver.Nack{Action: driver.ActionDeadLetter, Reason: ReasonMaxDeliveries, Error: d.LastError}
	_ = s.nack(context.WithoutCancel(ctx), d.Handle, n)
	return true
}

// waiter waits between polls of an idle subscription: for a notification
// from the backend, a poll timer that backs off from PollMin to
// PollInterval, or the end of ctx or the Queue.
type waiter struct {
	s     *Subscription
	ctx   context.Context
	ready <-chan struct{}
	stopN func()
	delay time.Duration
	timer clock.Timer
}

func (s *Subscription) newWaiter(ctx context.Context) *waiter {
	w := &waiter{s: s, ctx: ctx, delay: s.opts.PollMin}
	if s.q.notifier != nil {
		if ch, stop, err := s.q.notifier.Notify(ctx, s.topic, s.name); err == nil {
			w.ready, w.stopN = ch, stop
		}
	}
	return w
}

func (w *waiter) reset() { w.delay = w.s.opts.PollMin }

func (w *waiter) wait() error {
	if w.timer == nil {
		w.timer = w.s.q.clk.NewTimer(w.delay)
	} else {
		w.timer.Reset(w.delay)
	}
	defer w.timer.Stop()
	w.delay = min(w.delay*2, w.s.opts.PollInterval)
	select {
	case <-w.ctx.Done():
		return w.ctx.Err()
	case <-w.s.q.closed:
		return ErrClosed
	case <-w.ready:
		w.reset()
	case <-w.timer.C():
	}
	return nil
}

func (w *waiter) stop() {
	if w.stopN != nil {
		w.stopN()
	}
}

// heartbeat extends the leases of a subscription's unsettled deliveries
// every HeartbeatEvery. Its goroutine runs while there is something to
// extend. Live deliveries form an intrusive list (no hashing per message).
type heartbeat struct {
	s       *Subscription
	mu      sync.Mutex
	head    *Delivery
	n       int
	running bool
}

func (h *heartbeat) link(d *Delivery) {
	if d.hbIn {
		return
	}
	d.hbIn, d.hbPrev, d.hbNext = true, nil, h.head
	if h.head != nil {
		h.head.hbPrev = d
	}
	h.head = d
	h.n++
}

func (h *heartbeat) unlink(d *Delivery) {
	if !d.hbIn {
		return
	}
	if d.hbPrev != nil {
		d.hbPrev.hbNext = d.hbNext
	} else {
		h.head = d.hbNext
	}
	if d.hbNext != nil {
		d.hbNext.hbPrev = d.hbPrev
	}
	d.hbIn, d.hbPrev, d.hbNext = false, nil, nil
	h.n--
}

func (h *heartbeat) start() {
	if !h.running && h.n > 0 {
		h.running = true
		go h.run()
	}
}

// trackAll tracks a batch under one lock.
func (h *heartbeat) trackAll(ds []*Delivery) {
	h.mu.Lock()
	for _, d := range ds {
		h.link(d)
	}
	h.start()
	h.mu.Unlock()
}

// untrackAll untracks a batch under one lock.
func (h *heartbeat) untrackAll(ds []*Delivery) {
	h.mu.Lock()
	for _, d := range ds {
		h.unlink(d)
	}
	h.mu.Unlock()
}

func (h *heartbeat) untrack(d *Delivery) {
	h.mu.Lock()
	h.unlink(d)
	h.mu.Unlock()
}

// abandoned reports whether nobody will settle d any more, so its lease
// must not be extended: a delivery from Receive once the Queue is closed
// (closed), or one whose Consume gave up on its handler at the shutdown
// deadline.
func (d *Delivery) abandoned(closed bool) bool {
	if d.owner == nil {
		return closed
	}
	return d.owner.abandoned.Load()
}

// dropOwner stops extending the deliveries held by c.
func (h *heartbeat) dropOwner(c *consumer) {
	h.mu.Lock()
	for d := h.head; d != nil; {
		next := d.hbNext
		if d.owner == c {
			h.unlink(d)
		}
		d = next
	}
	h.mu.Unlock()
}

func (h *heartbeat) run() {
	s := h.s
	// A one-shot timer re-armed after each beat rather than a ticker: a
	// beat that ran long is not followed at once by another, and a fake
	// clock's BlockUntil sees the loop park again before time moves on.
	t := s.q.clk.NewTimer(s.opts.HeartbeatEvery)
	defer t.Stop()
	var batch []*Delivery
	for ; ; t.Reset(s.opts.HeartbeatEvery) {
		<-t.C()
		batch = batch[:0]
		h.mu.Lock()
		if h.n == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		closed := s.q.isClosed()
		for d := h.head; d != nil; {
			next := d.hbNext
			if d.abandoned(closed) {
				h.unlink(d) // its lease lapses; the message is redelivered
			} else {
				batch = append(batch, d)
			}
			d = next
		}
		if h.n == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		// One deadline for the whole beat (not a timer per lease): the
		// extensions are due before the next beat.
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.HeartbeatEvery)
		var extended int64
		for _, d := range batch {
			if d.settled.Load() {
				continue
			}
			err := s.q.d.Extend(ctx, s.topic, s.name, d.handle, s.opts.Visibility)
			if err == nil {
				extended++
			} else if err == driver.ErrNotLeased {
				h.untrack(d)
			}
		}
		cancel()
		if extended > 0 {
			s.q.tel.extended.Add(context.Background(), extended, s.add...)
		}
		clear(batch)
	}
}
