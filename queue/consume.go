package queue

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/queue/driver"
)

// Handler handles one delivery. Returning nil acks the message; returning
// an error made by Nack settles it with that policy; any other error, or a
// panic, follows the subscription's OnError policy. The context carries
// the producer's trace context and is cancelled only when the shutdown
// deadline passes.
type Handler func(ctx context.Context, d *Delivery) error

// Consume runs h on the subscription's messages until ctx ends or the
// Queue is closed, then drains: it stops fetching, releases prefetched
// messages that did not start, waits up to ShutdownTimeout for running
// handlers, flushes acks and returns nil (or ErrDrainTimeout when
// handlers were still running; their messages are delivered again).
//
// At most Concurrency handlers run at once and at most Concurrency +
// Prefetch messages are leased by this call. Messages with the same
// ordering key are handled one at a time in publish order (the backend
// leases at most one message per key), so a slow or failing key holds up
// only its own later messages. Acks are batched.
func (s *Subscription) Consume(ctx context.Context, h Handler, opts *ConsumeOptions) error {
	if h == nil {
		return ErrNilHandler
	}
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if s.q.isClosed() {
		return ErrClosed
	}
	c := &consumer{s: s, h: h, o: o, limit: o.Concurrency + o.Prefetch,
		work:  make(chan *Delivery, o.Concurrency+o.Prefetch),
		acks:  make(chan []*Delivery, o.Concurrency+o.Prefetch),
		free:  make(chan []*Delivery, 2*o.Concurrency),
		freed: make(chan struct{}, 1), ackStop: make(chan struct{})}
	stop, cancelStop := context.WithCancel(ctx)
	defer cancelStop()
	go func() {
		select {
		case <-s.q.closed:
			cancelStop()
		case <-stop.Done():
		}
	}()
	// Handlers keep the caller's values but not its cancellation: they
	// are cancelled at the shutdown deadline.
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	c.hctx = hctx

	var workers, acker sync.WaitGroup
	acker.Add(1)
	go func() { defer acker.Done(); c.ackLoop() }()
	workers.Add(o.Concurrency)
	for i := 0; i < o.Concurrency; i++ {
		go func() { defer workers.Done(); c.workLoop() }()
	}
	c.fetchLoop(stop)
	// Draining: no more fetches; workers release what did not start.
	c.draining.Store(true)
	for drained := false; !drained; {
		select {
		case d := <-c.work:
			c.giveBack(d)
		default:
			drained = true
		}
	}
	close(c.work)
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	t := s.q.clk.NewTimer(o.ShutdownTimeout)
	defer t.Stop()
	var result error
	select {
	case <-done:
	case <-t.C():
		// Give up on the running handlers: their leases are no longer
		// extended, so their messages go to other consumers.
		c.abandoned.Store(true)
		s.hb.dropOwner(c)
		cancelHandlers()
		result = ErrDrainTimeout
		// Give handlers that honour their context a moment to return.
		t2 := time.NewTimer(time.Second)
		select {
		case <-done:
		case <-t2.C:
		}
		t2.Stop()
	}
	close(c.ackStop)
	acker.Wait()
	return result
}

type consumer struct {
	s     *Subscription
	h     Handler
	o     ConsumeOptions
	hctx  context.Context
	limit int

	work    chan *Delivery
	acks    chan []*Delivery
	free    chan []*Delivery // emptied ack slices, back to the workers
	freed   chan struct{}
	ackStop chan struct{}

	held      atomic.Int64 // leased messages not yet through a handler
	draining  atomic.Bool
	abandoned atomic.Bool // the shutdown deadline passed: stop extending
}

func (c *consumer) fetchLoop(stop context.Context) {
	s := c.s
	w := s.newWaiter(stop)
	defer w.stop()
	// Fetches outlive a cancelled ctx so that leased messages are never
	// lost in flight; they are bounded by the visibility timeout.
	fctx := context.WithoutCancel(stop)
	var batch []*Delivery
	var buf []driver.Delivery
	for stop.Err() == nil {
		held := int(c.held.Load())
		n := c.limit - held
		// Fetch in batches: while messages are held, wait until half the
		// slots are free rather than leasing one message per round trip.
		if n <= 0 || (held > 0 && n < (c.limit+1)/2) {
			select {
			case <-c.freed:
				continue
			case <-stop.Done():
				return
			}
		}
		n = min(n, s.q.maxBatch)
		var ds []driver.Delivery
		var err error
		if s.q.local {
			// An in-process engine does no I/O: no deadline needed.
			ds, err = s.receive(fctx, buf, n)
		} else {
			rctx, cancel := context.WithTimeout(fctx, s.opts.Visibility)
			ds, err = s.receive(rctx, buf, n)
			cancel()
		}
		if err != nil || len(ds) == 0 {
			if w.wait() != nil {
				return
			}
			continue
		}
		w.reset()
		s.q.tel.delivered(int64(len(ds)), ds, s.add)
		batch = s.wrap(fctx, batch[:0], ds, c)
		if s.q.into != nil {
			clear(ds) // keep no bodies alive through the reused array
			buf = ds[:0]
		}
		s.hb.trackAll(batch)
		c.held.Add(int64(len(batch)))
		for _, d := range batch {
			c.work <- d
		}
	}
}

// ackSlice is the capacity of the slices workers hand acks over in.
const ackSlice = 32

// emptySlice returns an empty slice for a worker's next acks, reusing one
// the acker is done with when there is one.
func (c *consumer) emptySlice() []*Delivery {
	select {
	case p := <-c.free:
		return p
	default:
		return make([]*Delivery, 0, ackSlice)
	}
}

// recycle gives an ack slice the acker has copied back to the workers.
func (c *consumer) recycle(ds []*Delivery) {
	if cap(ds) != ackSlice {
		return
	}
	clear(ds)
	select {
	case c.free <- ds[:0]:
	default:
	}
}

// receive leases up to n messages, into buf when the driver can.
func (s *Subscription) receive(ctx context.Context, buf []driver.Delivery, n int) ([]driver.Delivery, error) {
	if s.q.into != nil {
		return s.q.into.ReceiveInto(ctx, s.topic, s.name, buf, n, s.opts.Visibility)
	}
	return s.q.d.Receive(ctx, s.topic, s.name, n, s.opts.Visibility)
}

func (c *consumer) release() {
	c.held.Add(-1)
	select {
	case c.freed <- struct{}{}:
	default:
	}
}

// giveBack releases a prefetched delivery that never started.
func (c *consumer) giveBack(d *Delivery) {
	s := c.s
	d.settled.Store(true)
	s.hb.untrack(d)
	_ = s.nack(context.Background(), d.handle, driver.Nack{Action: driver.ActionRetry, Error: d.LastError})
	c.release()
}

func (c *consumer) workLoop() {
	s := c.s
	pending := c.emptySlice() // successes not yet handed to the acker
	send := func() {
		if len(pending) == 0 {
			return
		}
		select {
		case c.acks <- pending:
		case <-c.ackStop:
			for _, d := range pending {
				_ = d.Ack(context.Background()) // a straggler after the drain
			}
		}
		pending = c.emptySlice()
	}
	for {
		// Acks wait for the next batch only while this worker goes
		// straight on to more work. Before it waits for work it hands
		// them over: checking for queued work first is not enough, since
		// another worker can take that work, and an ack held here while
		// the heartbeat keeps its lease alive would never be sent.
		var d *Delivery
		var ok bool
		select {
		case d, ok = <-c.work:
		default:
			send()
			d, ok = <-c.work
		}
		if !ok {
			break
		}
		if c.draining.Load() {
			c.giveBack(d)
			continue
		}
		s.q.tel.inflight.Add(context.Background(), 1, s.add...)
		herr := c.run(d)
		s.q.tel.inflight.Add(context.Background(), -1, s.add...)
		c.release()
		if herr == nil {
			pending = append(pending, d)
			if len(pending) >= ackSlice {
				send()
			}
			continue
		}
		send()
		if !d.settled.Load() {
			_ = d.Settle(context.Background(), herr)
		}
	}
	send()
}

// run calls the handler with the trace context of the message, turning a
// panic into a *PanicError.
func (c *consumer) run(d *Delivery) (err error) {
	s := c.s
	ctx := c.hctx
	var span trace.Span
	if len(d.Headers) > 0 {
		ctx = s.q.prop.Extract(ctx, propagation.MapCarrier(d.Headers))
	}
	if s.q.tracing() {
		ctx, span = s.q.tracer.Start(ctx, "queue.Handle", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("scalekit.name", s.q.opts.Name),
				attribute.String("scalekit.queue.subscription", s.name), attribute.Int("messaging.message.delivery_count", d.Deliveries)))
	}
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
		if span != nil {
			otelx.End(span, err)
		}
	}()
	return c.h(ctx, d)
}

// ackLoop sends acks in batches: it takes every ack waiting, up to
// AckBatch, and flushes them in one call, so that batching adds no delay.
func (c *consumer) ackLoop() {
	s := c.s
	batch := make([]*Delivery, 0, c.o.AckBatch)
	handles := make([]string, 0, c.o.AckBatch)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		handles = handles[:0]
		for _, d := range batch {
			if d.settled.CompareAndSwap(false, true) {
				handles = append(handles, d.handle)
			}
		}
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.Visibility)
			err = s.q.d.Ack(ctx, s.topic, s.name, handles)
			cancel()
			if err == nil || (s.q.retry != nil && !s.q.retry.IsRetryable(err)) {
				break
			}
		}
		if err == nil {
			s.q.tel.acked.Add(context.Background(), int64(len(handles)), s.add...)
		} else {
			// Nobody waits for these acks: count them, since their
			// messages come back once their leases lapse.
			s.q.tel.ackFailed.Add(context.Background(), int64(len(handles)), s.add...)
		}
		s.hb.untrackAll(batch)
		clear(batch)
		batch = batch[:0]
	}
	var linger clock.Timer
	var lingerC <-chan time.Time
	stopLinger := func() {
		if linger != nil {
			linger.Stop()
		}
		lingerC = nil
	}
	for {
		select {
		case ds := <-c.acks:
			batch = append(batch, ds...)
			c.recycle(ds)
		more:
			for len(batch) < c.o.AckBatch {
				select {
				case ds := <-c.acks:
					batch = append(batch, ds...)
					c.recycle(ds)
				default:
					break more
				}
			}
			// Flush at once when the batch is full or nothing else is
			// being handled; otherwise wait up to AckDelay for more.
			if len(batch) >= c.o.AckBatch || c.held.Load() == 0 || c.o.AckDelay <= 0 {
				stopLinger()
				flush()
			} else if lingerC == nil {
				if linger == nil {
					linger = s.q.clk.NewTimer(c.o.AckDelay)
				} else {
					linger.Reset(c.o.AckDelay)
				}
				lingerC = linger.C()
			}
		case <-lingerC:
			lingerC = nil
			flush()
		case <-c.ackStop:
			stopLinger()
			for {
				select {
				case ds := <-c.acks:
					batch = append(batch, ds...)
					if len(batch) >= c.o.AckBatch {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}
