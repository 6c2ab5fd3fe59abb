package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// DeadLetter is a message in a subscription's dead-letter queue.
type DeadLetter struct {
	// ID, Body, Headers, Key and Priority are the message as published.
	ID       string
	Body     []byte
	Headers  map[string]string
	Key      string
	Priority int
	// PublishedAt is when the message was published.
	PublishedAt time.Time
	// Deliveries is how many times it was delivered before it died.
	Deliveries int
	// Reason is why it died: ReasonMaxDeliveries or ReasonRejected.
	Reason string
	// LastError is the last handler error ("" if none).
	LastError string
	// DeadAt is when it was moved to the dead-letter queue.
	DeadAt time.Time
}

func deadLetter(d driver.DeadLetter) DeadLetter {
	m := d.Message
	return DeadLetter{ID: m.ID, Body: m.Body, Headers: m.Headers, Key: m.Key, Priority: m.Priority,
		PublishedAt: m.PublishedAt, Deliveries: d.Deliveries, Reason: d.Reason, LastError: d.LastError, DeadAt: d.DeadAt}
}

// Stats is a snapshot of a subscription: its backlog (ready, delayed and
// leased messages), how many are leased, how many are dead, and the
// publish time of the oldest message in the backlog.
type Stats = driver.Stats

// DeadLetters lists up to limit dead letters (1 to 1000) in the order they
// died, starting after the one with id after ("" for the first page).
func (s *Subscription) DeadLetters(ctx context.Context, after string, limit int) ([]DeadLetter, error) {
	if limit <= 0 || limit > 1000 {
		return nil, fmt.Errorf("%w: limit %d not in [1, 1000]", ErrInvalidOptions, limit)
	}
	ds, err := s.q.d.DeadLetters(ctx, s.topic, s.name, after, limit)
	if err != nil {
		return nil, opError("list dead letters of", s.name, ctxErr(ctx, err))
	}
	out := make([]DeadLetter, len(ds))
	for i, d := range ds {
		out[i] = deadLetter(d)
	}
	return out, nil
}

// DeadLetter returns the dead letter with message id id, or an error
// wrapping ErrNotFound.
func (s *Subscription) DeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	if err := checkName("message id", id); err != nil {
		return DeadLetter{}, err
	}
	d, err := s.q.d.DeadLetter(ctx, s.topic, s.name, id)
	if err != nil {
		return DeadLetter{}, opError("inspect dead letter "+id+" of", s.name, ctxErr(ctx, err))
	}
	return deadLetter(d), nil
}

// Redrive moves the named dead letters back into the subscription, ready
// at once with a delivery count of 0, and reports how many it moved.
func (s *Subscription) Redrive(ctx context.Context, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n, err := s.q.d.Redrive(ctx, s.topic, s.name, ids)
	if n > 0 {
		s.q.tel.redriven.Add(context.Background(), int64(n), s.add...)
	}
	return n, opError("redrive on", s.name, ctxErr(ctx, err))
}

// RedriveAll moves every dead letter back into the subscription, page by
// page, and reports how many it moved.
func (s *Subscription) RedriveAll(ctx context.Context) (int, error) {
	total := 0
	for {
		ds, err := s.q.d.DeadLetters(ctx, s.topic, s.name, "", 500)
		if err != nil || len(ds) == 0 {
			return total, opError("redrive on", s.name, ctxErr(ctx, err))
		}
		ids := make([]string, len(ds))
		for i, d := range ds {
			ids[i] = d.Message.ID
		}
		n, err := s.Redrive(ctx, ids...)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// Purge deletes the named dead letters and reports how many it deleted.
func (s *Subscription) Purge(ctx context.Context, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n, err := s.q.d.Purge(ctx, s.topic, s.name, ids)
	return n, opError("purge on", s.name, ctxErr(ctx, err))
}

// PurgeAll deletes every dead letter of the subscription.
func (s *Subscription) PurgeAll(ctx context.Context) (int, error) {
	n, err := s.q.d.Purge(ctx, s.topic, s.name, nil)
	return n, opError("purge on", s.name, ctxErr(ctx, err))
}

// Stats reports the subscription's backlog.
func (s *Subscription) Stats(ctx context.Context) (Stats, error) {
	st, err := s.q.d.Stats(ctx, s.topic, s.name)
	return st, opError("stats of", s.name, ctxErr(ctx, err))
}
