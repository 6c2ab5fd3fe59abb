package redisqueue_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/redisqueue"
)

// Benchmark sizes: messages per round, publish batch, consumer window.
const (
	benchRound = 20000
	benchBatch = 500
	benchConc  = 256
)

var benchSeq atomic.Int64

// scalekitRound publishes n messages in batches through package queue and
// consumes them with one Consume call; it returns the elapsed time.
func scalekitRound(b *testing.B, c redis.UniversalClient, n int) time.Duration {
	b.Helper()
	ctx := context.Background()
	d, err := redisqueue.New(c, &redisqueue.Options{Prefix: "bench:"})
	if err != nil {
		b.Fatal(err)
	}
	q, err := queue.New(d, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	topic := fmt.Sprintf("t%d", benchSeq.Add(1))
	sub, err := q.Subscribe(ctx, topic, "s", &queue.SubscriptionOptions{PollMin: time.Millisecond, PollInterval: 5 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 64)
	batch := make([]queue.Message, benchBatch)
	for i := range batch {
		batch[i].Body = body
	}
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
			batch[i].ID = "" // fresh ids
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

// rawRound does the same work with the client alone: pipelined XADD in
// batches, one XREADGROUP loop and XACK in batches from an acker.
func rawRound(b *testing.B, c redis.UniversalClient, n int) time.Duration {
	b.Helper()
	ctx := context.Background()
	stream := fmt.Sprintf("rawbench:{t%d}", benchSeq.Add(1))
	if err := c.XGroupCreateMkStream(ctx, stream, "g", "0").Err(); err != nil {
		b.Fatal(err)
	}
	defer c.Del(ctx, stream)
	body := string(make([]byte, 64))
	acks := make(chan []string, 64)
	done := make(chan struct{})
	start := time.Now()
	go func() { // reader
		read := 0
		for read < n {
			res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"},
				Count: 2 * benchConc, Block: 5 * time.Millisecond}).Result()
			if err != nil && err != redis.Nil {
				panic(err)
			}
			for _, s := range res {
				ids := make([]string, len(s.Messages))
				for i, m := range s.Messages {
					ids[i] = m.ID
				}
				read += len(ids)
				acks <- ids
			}
		}
		close(acks)
	}()
	go func() { // acker
		for ids := range acks {
			for len(ids) > 0 {
				k := min(len(ids), 256)
				if err := c.XAck(ctx, stream, "g", ids[:k]...).Err(); err != nil {
					panic(err)
				}
				ids = ids[k:]
			}
		}
		close(done)
	}()
	for sent := 0; sent < n; sent += benchBatch {
		p := c.Pipeline()
		for i := 0; i < min(benchBatch, n-sent); i++ {
			p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"m", body, "i", "x"}})
		}
		if _, err := p.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	return time.Since(start)
}

// BenchmarkEndToEnd publishes and consumes (with ack) through package
// queue and, in the same run, with the raw client doing the same work;
// it reports both rates and their ratio.
func BenchmarkEndToEnd(b *testing.B) {
	c := testenv.RedisClient(b)
	var sk, raw time.Duration
	msgs := 0
	for b.Loop() {
		sk += scalekitRound(b, c, benchRound)
		raw += rawRound(b, c, benchRound)
		msgs += benchRound
	}
	b.ReportMetric(float64(msgs)/sk.Seconds(), "scalekit-msgs/s")
	b.ReportMetric(float64(msgs)/raw.Seconds(), "raw-msgs/s")
	b.ReportMetric(raw.Seconds()/sk.Seconds(), "ratio")
}

// BenchmarkPublish measures publishing alone, in batches of 500.
func BenchmarkPublish(b *testing.B) {
	c := testenv.RedisClient(b)
	ctx := context.Background()
	d, _ := redisqueue.New(c, &redisqueue.Options{Prefix: "bench:"})
	q, _ := queue.New(d, nil)
	topic := fmt.Sprintf("p%d", benchSeq.Add(1))
	if _, err := q.Subscribe(ctx, topic, "s", nil); err != nil {
		b.Fatal(err)
	}
	batch := make([]queue.Message, benchBatch)
	for i := range batch {
		batch[i].Body = make([]byte, 64)
	}
	n := 0
	for b.Loop() {
		for i := range batch {
			batch[i].ID = ""
		}
		if _, err := q.Publish(ctx, topic, batch...); err != nil {
			b.Fatal(err)
		}
		n += benchBatch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	b.StopTimer()
	c.FlushDB(ctx)
}
