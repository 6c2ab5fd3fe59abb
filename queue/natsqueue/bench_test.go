package natsqueue_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/natsqueue"
)

const (
	benchRound = 10000
	benchBatch = 500
	benchConc  = 256
)

var benchSeq atomic.Int64

// scalekitRound publishes n messages through package queue in batches and
// consumes them with one Consume call.
func scalekitRound(b *testing.B, nc *nats.Conn, n int) time.Duration {
	b.Helper()
	ctx := context.Background()
	d, err := natsqueue.New(nc, &natsqueue.Options{Prefix: "BENCH"})
	if err != nil {
		b.Fatal(err)
	}
	q, _ := queue.New(d, nil)
	defer q.Close()
	topic := fmt.Sprintf("t%d", benchSeq.Add(1))
	sub, err := q.Subscribe(ctx, topic, "s", &queue.SubscriptionOptions{PollMin: time.Millisecond, PollInterval: 5 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]queue.Message, benchBatch)
	body := make([]byte, 64)
	var got atomic.Int64
	done := make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		errc <- sub.Consume(cctx, func(context.Context, *queue.Delivery) error {
			if got.Add(1) == int64(n) {
				close(done)
			}
			return nil
		}, &queue.ConsumeOptions{Concurrency: benchConc, Prefetch: benchConc})
	}()
	for sent := 0; sent < n; sent += benchBatch {
		for i := range batch {
			batch[i] = queue.Message{Body: body}
		}
		if _, err := q.Publish(ctx, topic, batch[:min(benchBatch, n-sent)]...); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	el := time.Since(start)
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return el
}

// rawRound does the same with the jetstream package alone: async
// publishes awaited per batch, each with a Nats-Msg-Id as natsqueue sends
// (the server's duplicate tracking is part of the work), Fetch of up to
// 512, Ack of each message.
func rawRound(b *testing.B, nc *nats.Conn, n int) time.Duration {
	b.Helper()
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	name := fmt.Sprintf("RAW%d", benchSeq.Add(1))
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Retention: jetstream.InterestPolicy})
	if err != nil {
		b.Fatal(err)
	}
	defer js.DeleteStream(ctx, name)
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 64)
	done := make(chan struct{})
	start := time.Now()
	go func() {
		got := 0
		for got < n {
			mb, err := c.Fetch(2*benchConc, jetstream.FetchMaxWait(5*time.Millisecond))
			if err != nil {
				panic(err)
			}
			for m := range mb.Messages() {
				_ = m.Ack()
				got++
			}
		}
		close(done)
	}()
	for sent := 0; sent < n; sent += benchBatch {
		futs := make([]jetstream.PubAckFuture, 0, benchBatch)
		for i := 0; i < min(benchBatch, n-sent); i++ {
			f, err := js.PublishAsync(name+".x", body, jetstream.WithMsgID(fmt.Sprintf("i:%d-%d", sent, i)))
			if err != nil {
				b.Fatal(err)
			}
			futs = append(futs, f)
		}
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				b.Fatal(err)
			}
		}
	}
	<-done
	return time.Since(start)
}

// BenchmarkEndToEnd publishes and consumes (with ack) through package
// queue on one embedded node and, in the same run, with raw JetStream
// doing the same work; it reports both rates and their ratio.
func BenchmarkEndToEnd(b *testing.B) {
	url := startNATS(b, 1)
	nc := connect(b, url)
	var sk, raw time.Duration
	msgs := 0
	for b.Loop() {
		sk += scalekitRound(b, nc, benchRound)
		raw += rawRound(b, nc, benchRound)
		msgs += benchRound
	}
	b.ReportMetric(float64(msgs)/sk.Seconds(), "scalekit-msgs/s")
	b.ReportMetric(float64(msgs)/raw.Seconds(), "raw-msgs/s")
	b.ReportMetric(raw.Seconds()/sk.Seconds(), "ratio")
}
