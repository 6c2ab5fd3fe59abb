package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
)

// Sizes of the end-to-end queue rows. One benchmark op is one round of
// qRound messages, published in batches of qBatch while the consumers
// run, each consumed and acknowledged by a handler that does nothing
// else; the msgs/s (jobs/s) metric is per message. A round of thousands
// keeps the time to fill and drain the pipeline (a poll interval, a
// notification) a small part of the figure even when -benchtime is short.
// The publisher never runs more than qDepth messages ahead of the
// consumers, so memory and table sizes stay bounded whatever b.N is.
const (
	qRound   = 5000
	qBatch   = 1000
	qDepth   = 10 * qBatch
	qTimeout = 2 * time.Minute // a round that stalls this long fails
)

// qBody is the body of every queue message (32 bytes).
var qBody = []byte("0123456789abcdef0123456789abcdef")

// qSeq numbers topics, streams and tables so that no two runs share one.
var qSeq atomic.Int64

func qName(prefix string) string { return fmt.Sprintf("%s%d", prefix, qSeq.Add(1)) }

// An e2eSide is one contender of an end-to-end queue row.
type e2eSide struct {
	// start starts the consumers, which call handled(k) after handling
	// (and acknowledging or scheduling the ack of) k messages. stop ends
	// them and waits until they are gone.
	start func(ctx context.Context, handled func(k int)) (stop func() error, err error)
	// publish publishes k ≤ qBatch messages in one batch.
	publish func(ctx context.Context, k int) error
}

// endToEnd publishes b.N rounds of qRound messages through s while its
// consumers run and returns when all were handled; unit ("msgs/s" or
// "jobs/s") names the per-message rate reported.
func endToEnd(b *testing.B, s e2eSide, unit string) {
	if err := runE2E(b, s, b.N*qRound, unit); err != nil {
		b.Fatal(err)
	}
}

// runE2E is endToEnd for n messages; b may be nil (smoke tests).
func runE2E(b *testing.B, s e2eSide, n int, unit string) error {
	ctx := context.Background()
	var handled atomic.Int64
	progress := make(chan struct{}, 1)
	done := make(chan struct{})
	var once sync.Once
	stop, err := s.start(ctx, func(k int) {
		if handled.Add(int64(k)) >= int64(n) {
			once.Do(func() { close(done) })
		}
		select {
		case progress <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	defer func() { _ = stop() }()
	if b != nil {
		b.ResetTimer()
	}
	timeout := time.NewTimer(qTimeout)
	defer timeout.Stop()
	t0 := time.Now()
	for sent := 0; sent < n; {
		for int64(sent)-handled.Load() > qDepth {
			select {
			case <-progress:
			case <-done:
			case <-timeout.C:
				return fmt.Errorf("publisher stalled: %d sent, %d handled after %v", sent, handled.Load(), qTimeout)
			}
		}
		k := min(qBatch, n-sent)
		if err := s.publish(ctx, k); err != nil {
			return err
		}
		sent += k
	}
	select {
	case <-done:
	case <-timeout.C:
		return fmt.Errorf("%d of %d messages handled after %v", handled.Load(), n, qTimeout)
	}
	el := time.Since(t0)
	if b != nil {
		b.StopTimer()
		b.ReportMetric(float64(n)/el.Seconds(), unit)
	}
	return stop()
}

// onceStop makes stop idempotent: endToEnd calls it on success and again
// (deferred) on every path.
func onceStop(stop func() error) func() error {
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() { err = stop() })
		return err
	}
}

// queueSide is package queue over any driver: a fresh topic and
// subscription per run, nsub Consume loops of conc handlers each.
func queueSide(q *queue.Queue, nsub int, subOpts *queue.SubscriptionOptions, opts *queue.ConsumeOptions) e2eSide {
	topic := qName("t")
	msgs := make([]queue.Message, qBatch)
	return e2eSide{
		start: func(ctx context.Context, handled func(int)) (func() error, error) {
			var subs []*queue.Subscription
			for i := 0; i < nsub; i++ {
				sub, err := q.Subscribe(ctx, topic, "work", subOpts)
				if err != nil {
					return nil, err
				}
				subs = append(subs, sub)
			}
			cctx, cancel := context.WithCancel(ctx)
			errc := make(chan error, nsub)
			for _, sub := range subs {
				go func() {
					errc <- sub.Consume(cctx, func(context.Context, *queue.Delivery) error {
						handled(1)
						return nil
					}, opts)
				}()
			}
			return onceStop(func() error {
				cancel()
				var first error
				for range subs {
					if err := <-errc; err != nil && first == nil {
						first = err
					}
				}
				return first
			}), nil
		},
		publish: func(ctx context.Context, k int) error {
			for i := range msgs[:k] {
				msgs[i] = queue.Message{Body: qBody} // fresh ids
			}
			_, err := q.Publish(ctx, topic, msgs[:k]...)
			return err
		},
	}
}
