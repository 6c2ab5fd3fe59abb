package pgqueue_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/pgqueue"
)

const (
	benchRound   = 4000 // messages per benchmark op
	benchWorkers = 4    // consumer loops, for scalekit and raw alike
	benchBatch   = 100  // messages leased per round trip
	benchPublish = 500  // messages per INSERT
)

var benchBody = []byte("0123456789abcdef0123456789abcdef")

// scalekitRound publishes benchRound messages and consumes them with
// benchWorkers Consume loops; it returns when all are handled.
func scalekitRound(b *testing.B, q *queue.Queue, subs []*queue.Subscription) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var handled atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sub.Consume(ctx, func(context.Context, *queue.Delivery) error {
				if handled.Add(1) == benchRound {
					close(done)
				}
				return nil
			}, &queue.ConsumeOptions{Concurrency: 4, Prefetch: 2 * benchBatch, AckBatch: benchBatch})
		}()
	}
	msgs := make([]queue.Message, benchPublish)
	for i := range msgs {
		msgs[i].Body = benchBody
	}
	t0 := time.Now()
	for n := 0; n < benchRound; n += benchPublish {
		if _, err := q.Publish(ctx, "bench", msgs...); err != nil {
			b.Fatal(err)
		}
	}
	t1 := time.Now()
	<-done
	t2 := time.Now()
	cancel()
	wg.Wait()
	if os.Getenv("BENCH_TRACE") != "" {
		b.Logf("publish %v, handled +%v, drained +%v", t1.Sub(t0), t2.Sub(t1), time.Since(t2))
	}
}

// rawRound does the same work with hand-written SQL on a plain table: a
// batched INSERT, SELECT … FOR UPDATE SKIP LOCKED leasing, batched DELETE.
func rawRound(b *testing.B, pool *pgxpool.Pool) {
	ctx := context.Background()
	var handled atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < benchWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for handled.Load() < benchRound {
				rows, err := pool.Query(ctx, `WITH c AS (
	SELECT id FROM bench_raw WHERE not_before <= now() AND (lease_until IS NULL OR lease_until <= now())
	ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
UPDATE bench_raw r SET deliveries = r.deliveries + 1, lease_until = now() + interval '30 seconds'
FROM c WHERE r.id = c.id RETURNING r.id, r.body`, benchBatch)
				if err != nil {
					b.Error(err)
					return
				}
				var ids []int64
				for rows.Next() {
					var id int64
					var body []byte
					if err := rows.Scan(&id, &body); err != nil {
						b.Error(err)
					}
					ids = append(ids, id)
				}
				rows.Close()
				if len(ids) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				if _, err := pool.Exec(ctx, "DELETE FROM bench_raw WHERE id = ANY($1)", ids); err != nil {
					b.Error(err)
					return
				}
				handled.Add(int64(len(ids)))
			}
		}()
	}
	bodies := make([][]byte, benchPublish)
	for i := range bodies {
		bodies[i] = benchBody
	}
	for n := 0; n < benchRound; n += benchPublish {
		if _, err := pool.Exec(ctx, "INSERT INTO bench_raw (body) SELECT unnest($1::bytea[])", bodies); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
}

func benchSetup(b *testing.B) (*pgxpool.Pool, *queue.Queue, []*queue.Subscription) {
	url := testenv.PostgresURL(b)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE bench_raw (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	body bytea NOT NULL, deliveries int NOT NULL DEFAULT 0, not_before timestamptz NOT NULL DEFAULT now(), lease_until timestamptz)`); err != nil {
		b.Fatal(err)
	}
	d, err := pgqueue.Open(context.Background(), pool, &pgqueue.Options{PollOnly: os.Getenv("BENCH_POLLONLY") != ""})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	q, _ := queue.New(d, nil)
	var subs []*queue.Subscription
	nsubs := benchWorkers
	if v, err := strconv.Atoi(os.Getenv("BENCH_SUBS")); err == nil {
		nsubs = v
	}
	for i := 0; i < nsubs; i++ {
		s, err := q.Subscribe(context.Background(), "bench", "work", &queue.SubscriptionOptions{PollMin: time.Millisecond, PollInterval: 50 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		subs = append(subs, s)
	}
	return pool, q, subs
}

// BenchmarkEndToEnd runs rounds of publish + consume + ack through
// scalekit and through the same SKIP LOCKED SQL written by hand, in the
// same run on the same server, and reports both rates and their ratio.
// One op is one round of benchRound messages.
func BenchmarkEndToEnd(b *testing.B) {
	pool, q, subs := benchSetup(b)
	var tScalekit, tRaw []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate the order so that neither side always runs warm.
		for j := 0; j < 2; j++ {
			t0 := time.Now()
			if (i+j)%2 == 0 {
				rawRound(b, pool)
				tRaw = append(tRaw, time.Since(t0))
			} else {
				scalekitRound(b, q, subs)
				tScalekit = append(tScalekit, time.Since(t0))
			}
		}
	}
	// Medians: on a shared machine a round now and then stalls for
	// reasons of its neighbours; the median is what a round costs.
	ms, mr := median(tScalekit), median(tRaw)
	b.ReportMetric(benchRound/ms.Seconds(), "scalekit-msgs/s")
	b.ReportMetric(benchRound/mr.Seconds(), "raw-msgs/s")
	b.ReportMetric(mr.Seconds()/ms.Seconds(), "ratio")
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkPublish publishes batches of benchPublish messages; msgs/s is
// per message.
func BenchmarkPublish(b *testing.B) {
	_, q, _ := benchSetup(b)
	msgs := make([]queue.Message, benchPublish)
	for i := range msgs {
		msgs[i].Body = benchBody
	}
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := q.Publish(context.Background(), "bench", msgs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchPublish)/time.Since(t0).Seconds(), "msgs/s")
}
