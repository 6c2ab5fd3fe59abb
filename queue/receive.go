package queue

import (
	"context"
	"fmt"
)

// Receive blocks until a message is available and returns it leased; the
// caller settles it with Ack, Nack or Settle. Until then its lease is
// extended in the background (see Queue.Close for when that stops). A
// message delivered more than MaxDeliveries times is dead-lettered instead
// of returned. Receive returns ctx.Err() when ctx ends first, ErrClosed
// after Queue.Close.
func (s *Subscription) Receive(ctx context.Context) (*Delivery, error) {
	ds, err := s.ReceiveBatch(ctx, 1)
	if err != nil {
		return nil, err
	}
	return ds[0], nil
}

// ReceiveBatch is Receive for up to max messages (at least 1; at most the
// backend's batch limit): it blocks until at least one message is
// available and returns those ready then, leased. Settle them one by one
// or together with Subscription.Ack.
func (s *Subscription) ReceiveBatch(ctx context.Context, max int) ([]*Delivery, error) {
	if max < 1 {
		return nil, fmt.Errorf("%w: ReceiveBatch of %d messages", ErrInvalidOptions, max)
	}
	max = min(max, s.q.maxBatch)
	w := s.newWaiter(ctx)
	defer w.stop()
	for {
		if s.q.isClosed() {
			return nil, ErrClosed
		}
		ds, err := s.q.d.Receive(ctx, s.topic, s.name, max, s.opts.Visibility)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if s.q.retry != nil && !s.q.retry.IsRetryable(err) {
				return nil, opError("receive on", s.name, err)
			}
			ds = nil
		}
		if len(ds) > 0 {
			s.q.tel.delivered(int64(len(ds)), ds, s.add)
			out := s.wrap(ctx, nil, ds, nil)
			if len(out) > 0 {
				s.hb.trackAll(out)
				return out, nil
			}
			w.reset()
			continue
		}
		if err := w.wait(); err != nil {
			return nil, err
		}
	}
}

// Ack acks the deliveries ds of this subscription together, in as few
// calls to the backend as its batch limit allows. Deliveries already
// settled are skipped; a delivery received through another Subscription
// value (even one of the same topic and name) makes Ack fail with
// ErrInvalidOptions before anything is acked. Like Delivery.Ack, it
// still reaches the backend after Queue.Close.
func (s *Subscription) Ack(ctx context.Context, ds ...*Delivery) error {
	for _, d := range ds {
		if d == nil || d.sub != s {
			return fmt.Errorf("%w: Ack of a delivery of another subscription", ErrInvalidOptions)
		}
	}
	handles := make([]string, 0, min(len(ds), s.q.maxBatch))
	var err error
	for start := 0; start < len(ds) && err == nil; start += s.q.maxBatch {
		part := ds[start:min(start+s.q.maxBatch, len(ds))]
		handles = handles[:0]
		for _, d := range part {
			if d.settled.CompareAndSwap(false, true) {
				handles = append(handles, d.handle)
			}
		}
		s.hb.untrackAll(part)
		if len(handles) == 0 {
			continue
		}
		if err = s.q.d.Ack(ctx, s.topic, s.name, handles); err == nil {
			s.q.tel.acked.Add(context.Background(), int64(len(handles)), s.add...)
		}
	}
	return opError("ack on", s.name, ctxErr(ctx, err))
}
