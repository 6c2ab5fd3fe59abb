package bench

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/natsqueue"
)

// startNATS runs one nats-server node with JetStream in this process (its
// store in a temporary directory) and returns a connection to it; both
// end with t.
func startNATS(t testing.TB) *nats.Conn {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		ServerName: "bench", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready within 30s")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// natsqueueSide is package queue over natsqueue: one Consume of
// redisConc handlers.
func natsqueueSide(b testing.TB, nc *nats.Conn) e2eSide {
	d, err := natsqueue.New(nc, &natsqueue.Options{Prefix: qName("BENCH")})
	if err != nil {
		b.Fatal(err)
	}
	q, err := queue.New(d, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = q.Close() })
	return queueSide(q, 1, &queue.SubscriptionOptions{PollMin: time.Millisecond, PollInterval: 5 * time.Millisecond},
		&queue.ConsumeOptions{Concurrency: redisConc, Prefetch: redisConc})
}

// rawNATSSide does the same work with the jetstream package alone: one
// interest-retention stream, async publishes awaited per batch, a durable
// pull consumer fetching up to 2×redisConc, an explicit Ack per message.
func rawNATSSide(b testing.TB, nc *nats.Conn) e2eSide {
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	name := qName("RAW")
	subject := name + ".x"
	return e2eSide{
		start: func(ctx context.Context, handled func(int)) (func() error, error) {
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Retention: jetstream.InterestPolicy})
			if err != nil {
				return nil, err
			}
			c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1})
			if err != nil {
				return nil, err
			}
			cctx, cancel := context.WithCancel(ctx)
			errc := make(chan error, 1)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for cctx.Err() == nil {
					mb, err := c.Fetch(2*redisConc, jetstream.FetchMaxWait(5*time.Millisecond))
					if err != nil {
						errc <- err
						return
					}
					n := 0
					for m := range mb.Messages() {
						if err := m.Ack(); err != nil {
							errc <- err
							return
						}
						n++
					}
					if err := mb.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
						errc <- err
						return
					}
					if n > 0 {
						handled(n)
					}
				}
			}()
			return onceStop(func() error {
				cancel()
				wg.Wait()
				_ = js.DeleteStream(context.Background(), name)
				select {
				case err := <-errc:
					return err
				default:
					return nil
				}
			}), nil
		},
		publish: func(ctx context.Context, k int) error {
			futs := make([]jetstream.PubAckFuture, 0, k)
			for i := 0; i < k; i++ {
				f, err := js.PublishAsync(subject, qBody)
				if err != nil {
					return err
				}
				futs = append(futs, f)
			}
			for _, f := range futs {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return err
				}
			}
			return nil
		},
	}
}

// BenchmarkCmpQueueNATS: publish + consume + ack end to end on one
// embedded JetStream node, natsqueue against the jetstream package doing
// the same work by hand (async publish, pull consumer, explicit ack).
func BenchmarkCmpQueueNATS(b *testing.B) {
	nc := startNATS(b)
	b.Run("scalekit", func(b *testing.B) { endToEnd(b, natsqueueSide(b, nc), "msgs/s") })
	b.Run("raw", func(b *testing.B) { endToEnd(b, rawNATSSide(b, nc), "msgs/s") })
}
