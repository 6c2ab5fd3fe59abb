package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/driver"
)

// Click queue names: one topic, one subscription (the analytics consumer
// group; every node's consumer competes on it).
const (
	clickTopic = "clicks"
	clickSub   = "analytics"
	// clickMaxDeliveries: a click delivered this many times without being
	// acknowledged (its consumer crashed each time) goes to the DLQ.
	clickMaxDeliveries = 5
)

// kitQueue is the ClickQueue on package queue: memqueue in memory mode,
// redisqueue with -redis, else pgqueue with -postgres (-queue overrides).
// Publishing goes through queue.Queue.Publish (validation, trace context
// in headers, telemetry; the click's Snowflake is the message id and
// DedupID, so a retried publish is stored once).
//
// Consuming leases a batch with Subscription.ReceiveBatch and acks it with
// one Subscription.Ack after the batch is applied: the consumer applies a
// whole batch — dedup records and counts — in one stats transaction, which
// is stronger than queue.Idempotent's separate dedup store (the dedup
// record commits with the counts). Each consumer gets its own queue.Queue
// (forConsumer) and closes it when it stops; a consumer that dies (or is
// closed) extends no lease any more, so its batch lapses after the
// visibility timeout and is redelivered. Poison (undecodable) clicks are
// dead-lettered with queue.DeadLetterNow, and clicks delivered more than
// clickMaxDeliveries times are dead-lettered by package queue before they
// are returned; both show in the subscription's DLQ on /debug/scalekit.
type kitQueue struct {
	q          *queue.Queue
	sub        *queue.Subscription
	d          driver.Queue
	backend    string
	visibility time.Duration

	mu   sync.Mutex
	seq  uint64
	held map[string]*queue.Delivery // by tag
}

func openKitQueue(ctx context.Context, d driver.Queue, backend string, visibility time.Duration) (*kitQueue, error) {
	q, err := queue.New(d, &queue.Options{Name: "shortener-clicks"})
	if err != nil {
		return nil, err
	}
	sub, err := q.Subscribe(ctx, clickTopic, clickSub, &queue.SubscriptionOptions{
		Visibility: visibility, MaxDeliveries: clickMaxDeliveries})
	if err != nil {
		return nil, err
	}
	return &kitQueue{q: q, sub: sub, d: d, backend: backend, visibility: visibility,
		held: map[string]*queue.Delivery{}}, nil
}

// forConsumer returns a ClickQueue of its own for one consumer, on the
// same backend: closing it (when the consumer stops or dies) stops the
// heartbeat of the leases it holds, as the end of a consumer process
// would.
func (k *kitQueue) forConsumer(ctx context.Context) (ClickQueue, error) {
	return openKitQueue(ctx, k.d, k.backend, k.visibility)
}

func (k *kitQueue) Publish(ctx context.Context, c Click) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	id := strconv.FormatInt(c.ID, 10)
	_, err = k.q.Publish(ctx, clickTopic, queue.Message{ID: id, DedupID: id, Body: b})
	return err
}

func (k *kitQueue) Receive(ctx context.Context, n int, wait time.Duration) ([]Delivery, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		ds, err := k.sub.ReceiveBatch(wctx, max(1, n))
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return nil, nil // nothing within wait
			}
			return nil, err
		}
		out := make([]Delivery, 0, len(ds))
		k.mu.Lock()
		for _, d := range ds {
			var c Click
			if err := json.Unmarshal(d.Body, &c); err != nil {
				// On failure the lease lapses, the click comes back and is
				// tried again.
				_ = d.Nack(ctx, queue.DeadLetterNow, fmt.Errorf("bad payload: %w", err))
				continue
			}
			k.seq++
			tag := strconv.FormatUint(k.seq, 10)
			k.held[tag] = d
			out = append(out, Delivery{Tag: tag, Click: c})
		}
		k.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
	}
}

func (k *kitQueue) Ack(ctx context.Context, tags ...string) error {
	ds := make([]*queue.Delivery, 0, len(tags))
	k.mu.Lock()
	for _, t := range tags {
		if d := k.held[t]; d != nil {
			ds = append(ds, d)
			delete(k.held, t)
		}
	}
	k.mu.Unlock()
	return k.sub.Ack(ctx, ds...)
}

func (k *kitQueue) Backlog(ctx context.Context) (int64, error) {
	st, err := k.sub.Stats(ctx)
	return st.Backlog, err
}

func (k *kitQueue) DeadLetters(ctx context.Context) (int64, error) {
	st, err := k.sub.Stats(ctx)
	return st.DeadLetters, err
}

func (k *kitQueue) Backend() string { return k.backend }

// Close closes the Queue: leases still held stop being extended.
func (k *kitQueue) Close() error { return k.q.Close() }
