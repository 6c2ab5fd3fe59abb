package redisqueue_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/internal/queuebench"
	"github.com/scalekit-go/scalekit/queue/redisqueue"
)

// Benchmark sizes: messages per round, publish batch, consumer window.
const (
	benchRound = 20000
	benchBatch = queuebench.Batch
	benchConc  = 256
)

var benchSeq atomic.Int64

// benchConsume is the consumer of scalekitRound: 16 handlers and a
// window of 2*benchConc leased messages (raw reads up to 2*benchConc per
// XREADGROUP). BenchmarkConsumeConcurrency compares other settings.
var benchConsume = &queue.ConsumeOptions{Concurrency: 16, Prefetch: 2*benchConc - 16}

// scalekitRound publishes n messages in batches through package queue and
// consumes them with one Consume call; it returns the elapsed time.
func scalekitRound(b *testing.B, c redis.UniversalClient, n int) time.Duration {
	b.Helper()
	d, err := redisqueue.New(c, &redisqueue.Options{Prefix: "bench:"})
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
	id := "0123456789abcdef0123456789abcdef" // a message id, as package queue makes
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
			p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{id, body}})
		}
		if _, err := p.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	return time.Since(start)
}

// driverRound does the work of rawRound through the Driver alone (no
// package queue): Publish in batches, one Receive loop, Ack in batches
// from an acker. It shows what the driver costs apart from Consume.
func driverRound(b *testing.B, c redis.UniversalClient, n int) time.Duration {
	b.Helper()
	d, err := redisqueue.New(c, &redisqueue.Options{Prefix: "bench:"})
	if err != nil {
		b.Fatal(err)
	}
	return queuebench.DriverRound(b, d, fmt.Sprintf("d%d", benchSeq.Add(1)), n, 2*benchConc)
}

// BenchmarkEndToEnd publishes and consumes (with ack) n messages per
// round three ways, one after the other in every round so that they
// share the machine's load: through package queue (Publish, Consume),
// through the Driver alone, and with the raw client doing the same work.
// It reports the three rates, the median over the rounds of the
// per-round ratios to raw (with their min and max) and, where /proc
// exists, the CPU time per message of this process (cli) and of
// redis-server (srv).
func BenchmarkEndToEnd(b *testing.B) {
	c := testenv.RedisClient(b)
	var srvPID int
	if m, err := c.InfoMap(context.Background(), "server").Result(); err == nil {
		srvPID, _ = strconv.Atoi(m["Server"]["process_id"])
	}
	type variant struct {
		name     string
		round    func(*testing.B, redis.UniversalClient, int) time.Duration
		el       time.Duration
		cli, srv time.Duration
		ratios   []float64
	}
	vs := []*variant{{name: "scalekit", round: scalekitRound}, {name: "driver", round: driverRound}, {name: "raw", round: rawRound}}
	msgs := 0
	srvCPU := func() time.Duration { d, _, _ := testenv.ProcCPUTime(srvPID); return d }
	_, _, cpu := testenv.ProcCPUTime(srvPID)
	for b.Loop() {
		var round [3]time.Duration
		for i, v := range vs {
			c0, s0 := testenv.CPUTime(), srvCPU()
			round[i] = v.round(b, c, benchRound)
			v.el += round[i]
			v.cli += testenv.CPUTime() - c0
			v.srv += srvCPU() - s0
		}
		for i, v := range vs[:2] {
			v.ratios = append(v.ratios, round[2].Seconds()/round[i].Seconds())
		}
		msgs += benchRound
	}
	for _, v := range vs {
		b.ReportMetric(float64(msgs)/v.el.Seconds(), v.name+"-msgs/s")
		if cpu {
			b.ReportMetric(float64(v.cli.Microseconds())/float64(msgs), v.name+"-cli-us/msg")
			b.ReportMetric(float64(v.srv.Microseconds())/float64(msgs), v.name+"-srv-us/msg")
		}
		testenv.ReportSpread(b, v.ratios, v.name+"-ratio")
	}
}

// BenchmarkConsumeConcurrency runs scalekitRound with several
// ConsumeOptions.Concurrency values (same window of 2*benchConc leased
// messages), interleaved round by round, and the raw client once per
// round: with a handler that does nothing, more handler goroutines only
// add scheduling work on a 2-core machine.
func BenchmarkConsumeConcurrency(b *testing.B) {
	c := testenv.RedisClient(b)
	defer func(o *queue.ConsumeOptions) { benchConsume = o }(benchConsume)
	conc := []int{4, 16, 64, 256}
	els := make([]time.Duration, len(conc)+1)
	for b.Loop() {
		for i, n := range conc {
			benchConsume = &queue.ConsumeOptions{Concurrency: n, Prefetch: 2*benchConc - n}
			els[i] += scalekitRound(b, c, benchRound)
		}
		els[len(conc)] += rawRound(b, c, benchRound)
	}
	msgs := float64(b.N * benchRound)
	for i, n := range conc {
		b.ReportMetric(msgs/els[i].Seconds(), fmt.Sprintf("c%d-msgs/s", n))
	}
	b.ReportMetric(msgs/els[len(conc)].Seconds(), "raw-msgs/s")
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
