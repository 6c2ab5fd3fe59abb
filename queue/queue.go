package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/queue/driver"
)

// Queue publishes to and subscribes to the topics of one backend. It
// validates input, assigns message ids, splits large batches, carries
// trace context in headers and reports metrics; the driver only talks to
// the engine.
//
// A Queue is safe for concurrent use. The zero value is not usable; call
// New (or NewInMemory).
type Queue struct {
	d        driver.Queue
	opts     Options
	clk      clock.Clock
	maxBody  int
	maxBatch int
	notifier driver.Notifier
	retry    driver.Retryable
	into     driver.ReceiverInto
	local    bool
	prop     propagation.TextMapPropagator
	tracer   trace.Tracer
	tel      *telemetry

	mu     sync.Mutex
	closed chan struct{}
	subs   map[*Subscription]struct{}
}

// New returns a Queue over d. It does no I/O.
func New(d driver.Queue, opts *Options) (*Queue, error) {
	if d == nil {
		return nil, errors.New("queue: New with a nil driver")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxBody < 0 {
		return nil, fmt.Errorf("%w: negative MaxBody", ErrInvalidOptions)
	}
	if o.Name == "" {
		o.Name = "queue"
	}
	q := &Queue{d: d, opts: o, clk: clock.Or(o.Clock), maxBody: o.MaxBody, maxBatch: 1000,
		closed: make(chan struct{}), subs: make(map[*Subscription]struct{})}
	if q.maxBody == 0 {
		q.maxBody = DefaultMaxBody
	}
	if l, ok := d.(driver.Limited); ok {
		lim := l.Limits()
		if lim.MaxBody > 0 && lim.MaxBody < q.maxBody {
			q.maxBody = lim.MaxBody
		}
		if lim.MaxBatch > 0 {
			q.maxBatch = lim.MaxBatch
		}
	}
	q.notifier, _ = d.(driver.Notifier)
	q.retry, _ = d.(driver.Retryable)
	q.into, _ = d.(driver.ReceiverInto)
	_, q.local = d.(driver.Local)
	q.prop = o.Propagator
	if q.prop == nil {
		q.prop = otel.GetTextMapPropagator()
	}
	q.tracer = otelx.Tracer(o.TracerProvider, "queue")
	q.tel = newTelemetry(o.MeterProvider, o.Name)
	return q, nil
}

// Driver returns the backend the Queue was created with.
func (q *Queue) Driver() driver.Queue { return q.d }

// Close stops the Queue: later calls return ErrClosed, and running Consume
// calls drain as if their context had ended. It does not close the
// backend's client. Close is idempotent.
//
// Leases stop being extended once nobody will settle them: a delivery
// from Receive that is not settled when Close is called loses its
// heartbeat at the next beat, so its lease lapses after Visibility and the
// message goes to another consumer; a Consume's running handlers keep
// their leases until its ShutdownTimeout, and a handler still running then
// is abandoned the same way (Consume returns ErrDrainTimeout).
//
// Ack, Nack, Settle and Extend keep working after Close: they reach the
// backend, and succeed while the lease lasts (after it lapsed, Ack is a
// no-op and Nack and Extend return ErrNotLeased). gocloud.dev's
// Subscription.Shutdown blocks while it flushes and drops acks made after
// it returned; Close returns at once and Consume drains after it, so acks
// made during the drain must still count.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	select {
	case <-q.closed:
	default:
		close(q.closed)
	}
	return nil
}

func (q *Queue) isClosed() bool {
	select {
	case <-q.closed:
		return true
	default:
		return false
	}
}

// Publish stores msgs in topic, in order, and returns their ids once the
// backend holds them durably (see the backend's documentation). Every
// subscription of the topic gets a copy; a topic without subscriptions
// drops them. Messages are validated first: one bad message fails the
// whole call before anything is stored. Batches larger than the backend's
// limit are split; an error then may leave earlier parts stored
// (publishing again is safe for messages with a DedupID).
func (q *Queue) Publish(ctx context.Context, topic string, msgs ...Message) ([]string, error) {
	if q.isClosed() {
		return nil, ErrClosed
	}
	if err := checkName("topic", topic); err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: Publish with no messages", ErrInvalidMessage)
	}
	var span trace.Span
	if q.tracing() {
		ctx, span = otelx.Start(ctx, q.tracer, "queue.Publish", attribute.String("scalekit.name", q.opts.Name),
			attribute.String("messaging.destination.name", topic), attribute.Int("messaging.batch.message_count", len(msgs)))
	}
	carrier := propagation.MapCarrier{}
	q.prop.Inject(ctx, carrier)
	now := q.clk.Now()
	var dms []driver.Message
	if q.local && len(msgs) <= maxPooledBatch {
		// An in-process engine copies what it keeps: the slice is reused.
		p := dmsPool.Get().(*[]driver.Message)
		dms = (*p)[:len(msgs)]
		defer func() {
			clear(dms)
			*p = dms[:0]
			dmsPool.Put(p)
		}()
	} else {
		dms = make([]driver.Message, len(msgs))
	}
	ids := make([]string, len(msgs))
	for i := range msgs {
		dm := &dms[i]
		if err := q.check(&msgs[i], now, dm); err != nil {
			err = fmt.Errorf("queue: publish to %q: message %d: %w", topic, i, err)
			if span != nil {
				otelx.End(span, err)
			}
			return nil, err
		}
		if len(carrier) > 0 {
			h := make(map[string]string, len(dm.Headers)+len(carrier))
			for k, v := range dm.Headers {
				h[k] = v
			}
			for k, v := range carrier {
				h[k] = v
			}
			dm.Headers = h
		}
	}
	fillIDs(dms)
	for i := range dms {
		ids[i] = dms[i].ID
	}
	var err error
	for start := 0; start < len(dms) && err == nil; start += q.maxBatch {
		end := min(start+q.maxBatch, len(dms))
		err = q.d.Publish(ctx, topic, dms[start:end])
		if err == nil {
			q.tel.published.Add(context.Background(), int64(end-start), q.tel.nameOnly...)
		}
	}
	err = opError("publish to", topic, ctxErr(ctx, err))
	if span != nil {
		otelx.End(span, err)
	}
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// maxPooledBatch bounds the batches whose driver messages are pooled.
const maxPooledBatch = 1024

var dmsPool = sync.Pool{New: func() any {
	s := make([]driver.Message, 0, maxPooledBatch)
	return &s
}}

// Subscribe creates subscription name of topic if it does not exist yet
// (idempotent, safe to call from many processes) and returns a handle to
// consume it. Messages published to topic from then on are copied to it.
func (q *Queue) Subscribe(ctx context.Context, topic, name string, opts *SubscriptionOptions) (*Subscription, error) {
	if q.isClosed() {
		return nil, ErrClosed
	}
	if err := checkName("topic", topic); err != nil {
		return nil, err
	}
	if err := checkName("subscription", name); err != nil {
		return nil, err
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := q.d.Subscribe(ctx, topic, name); err != nil {
		return nil, opError("subscribe to", topic, ctxErr(ctx, err))
	}
	s := newSubscription(q, topic, name, o)
	q.mu.Lock()
	q.subs[s] = struct{}{}
	q.mu.Unlock()
	q.tel.track(s)
	return s, nil
}

// tracing reports whether spans are worth starting: not for an in-process
// driver, and not while no tracer provider is installed (a no-op span per
// message costs microseconds and several allocations).
func (q *Queue) tracing() bool {
	return !q.local && otelx.Tracing(q.opts.TracerProvider)
}

// backoffDelay returns the RetryBackoff delay before retry n (0-based).
func (q *Queue) backoffDelay(b Backoff, n int) time.Duration {
	d := float64(b.Initial)
	for i := 0; i < n && d < float64(b.Max); i++ {
		d *= b.Multiplier
	}
	c := time.Duration(min(d, float64(b.Max)))
	if b.NoJitter || c <= 0 {
		return c
	}
	return time.Duration(rand.Int64N(int64(c) + 1))
}

// ctxErr returns ctx.Err() unwrapped when the context ended, else err.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
