package natsqueue_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/internal/queuebench"
	"github.com/scalekit-go/scalekit/queue/natsqueue"
)

const (
	benchRound = 10000
	benchBatch = queuebench.Batch
	benchConc  = 256
)

var benchSeq atomic.Int64

// benchConsume is the consumer of scalekitRound: 16 handlers and a
// window of 2*benchConc leased messages (raw fetches up to 2*benchConc
// at a time), as queue/redisqueue's benchmark uses; with a handler that
// does nothing, more handler goroutines only add scheduling work on a
// 2-core machine.
var benchConsume = &queue.ConsumeOptions{Concurrency: 16, Prefetch: 2*benchConc - 16}

// scalekitRound publishes n messages through package queue in batches and
// consumes them with one Consume call.
func scalekitRound(b *testing.B, nc *nats.Conn, n int) time.Duration {
	b.Helper()
	d, err := natsqueue.New(nc, &natsqueue.Options{Prefix: "BENCH"})
	if err != nil {
		b.Fatal(err)
	}
	q, err := queue.New(d, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	return queuebench.QueueRound(b, q, fmt.Sprintf("t%d", benchSeq.Add(1)), n, benchConsume)
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

// driverRound does the work of rawRound through the Driver alone (no
// package queue): Publish in batches, one Receive loop, Ack in batches
// from an acker. It shows what the driver costs apart from Consume.
func driverRound(b *testing.B, nc *nats.Conn, n int) time.Duration {
	b.Helper()
	d, err := natsqueue.New(nc, &natsqueue.Options{Prefix: "BENCH"})
	if err != nil {
		b.Fatal(err)
	}
	return queuebench.DriverRound(b, d, fmt.Sprintf("d%d", benchSeq.Add(1)), n, 2*benchConc)
}

// BenchmarkEndToEnd publishes and consumes (with ack) n messages per
// round three ways, one after the other in every round so that they
// share the machine's load: through package queue (Publish, Consume),
// through the Driver alone, and with raw jetstream doing the same work,
// on one embedded node. It reports the three rates, the median over the
// rounds of the per-round ratios to raw (with their min and max) and,
// where /proc exists, the CPU time per message of this process, which
// runs nats-server too (client + server).
func BenchmarkEndToEnd(b *testing.B) {
	url := startNATS(b, 1)
	nc := connect(b, url)
	type variant struct {
		name   string
		round  func(*testing.B, *nats.Conn, int) time.Duration
		el     time.Duration
		cpu    time.Duration
		ratios []float64
	}
	vs := []*variant{{name: "scalekit", round: scalekitRound}, {name: "driver", round: driverRound}, {name: "raw", round: rawRound}}
	msgs := 0
	for b.Loop() {
		var round [3]time.Duration
		for i, v := range vs {
			c0 := testenv.CPUTime()
			round[i] = v.round(b, nc, benchRound)
			v.el += round[i]
			v.cpu += testenv.CPUTime() - c0
		}
		for i, v := range vs[:2] {
			v.ratios = append(v.ratios, round[2].Seconds()/round[i].Seconds())
		}
		msgs += benchRound
	}
	for _, v := range vs {
		b.ReportMetric(float64(msgs)/v.el.Seconds(), v.name+"-msgs/s")
		b.ReportMetric(float64(v.cpu.Microseconds())/float64(msgs), v.name+"-cpu-us/msg")
		testenv.ReportSpread(b, v.ratios, v.name+"-ratio")
	}
}
