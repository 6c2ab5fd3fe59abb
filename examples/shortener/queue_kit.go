package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
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
// redisqueue with -redis, else pgqueue with -postgres (-queue overrides). Publishing goes through queue.Queue.Publish
// (validation, trace context in headers, telemetry; the click's Snowflake
// is the message id and DedupID, so a retried publish is stored once).
//
// Consuming uses the driver's batch lease and batch ack
// (queue.Queue.Driver()): the consumer applies a whole batch — dedup
// records and counts — in one stats transaction and then acks the batch
// in one call. That is stronger than queue.Idempotent's separate dedup
// store (the dedup record commits with the counts), and it keeps the
// crash semantics plain: a consumer that dies holds no heartbeat, so its
// leases lapse after the visibility timeout and the batch is redelivered.
// Poison (undecodable) clicks and clicks past clickMaxDeliveries are
// dead-lettered into the subscription's DLQ, shown on /debug/scalekit.
type kitQueue struct {
	q          *queue.Queue
	sub        *queue.Subscription
	d          driver.Queue
	backend    string
	visibility time.Duration
	maxBatch   int
	ready      <-chan struct{} // wake-ups (nil: poll only)
	stopNotify func()
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
	k := &kitQueue{q: q, sub: sub, d: d, backend: backend, visibility: visibility, maxBatch: 256}
	if l, ok := d.(driver.Limited); ok && l.Limits().MaxBatch > 0 {
		k.maxBatch = min(k.maxBatch, l.Limits().MaxBatch)
	}
	if nt, ok := d.(driver.Notifier); ok {
		if ch, stop, err := nt.Notify(ctx, clickTopic, clickSub); err == nil {
			k.ready, k.stopNotify = ch, stop
		}
	}
	return k, nil
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
	n = max(1, min(n, k.maxBatch))
	deadline := time.Now().Add(wait)
	for {
		ds, err := k.d.Receive(ctx, clickTopic, clickSub, n, k.visibility)
		if err != nil {
			return nil, err
		}
		out := make([]Delivery, 0, len(ds))
		for _, d := range ds {
			var c Click
			switch err := json.Unmarshal(d.Body, &c); {
			case d.Deliveries > clickMaxDeliveries:
				k.deadLetter(ctx, d.Handle, "max-deliveries", fmt.Sprintf("delivered %d times without an ack", d.Deliveries))
			case err != nil:
				k.deadLetter(ctx, d.Handle, "bad-payload", err.Error())
			default:
				out = append(out, Delivery{Tag: d.Handle, Click: c})
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		t := time.NewTimer(min(left, 50*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-k.ready: // nil channel: never
		case <-t.C:
		}
		t.Stop()
	}
}

func (k *kitQueue) deadLetter(ctx context.Context, handle, reason, msg string) {
	// On failure the lease lapses, the click comes back and is tried again.
	_ = k.d.Nack(ctx, clickTopic, clickSub, handle, driver.Nack{Action: driver.ActionDeadLetter, Reason: reason, Error: msg})
}

func (k *kitQueue) Ack(ctx context.Context, tags ...string) error {
	for len(tags) > 0 {
		part := tags[:min(len(tags), k.maxBatch)]
		if err := k.d.Ack(ctx, clickTopic, clickSub, part); err != nil {
			return err
		}
		tags = tags[len(part):]
	}
	return nil
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

func (k *kitQueue) Close() error {
	if k.stopNotify != nil {
		k.stopNotify()
	}
	return k.q.Close()
}
