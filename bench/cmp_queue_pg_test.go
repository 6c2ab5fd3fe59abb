package bench

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/pgqueue"
)

// pgWorkers is the worker count of every PostgreSQL contender: handlers
// running at once for pgqueue and River, leasing loops for the raw SQL.
const (
	pgWorkers = 16
	pgLease   = 100 // messages leased per round trip by the raw SQL
)

// pgPool opens a pool of 16 connections on a fresh database.
func pgPool(b testing.TB) *pgxpool.Pool {
	cfg, err := pgxpool.ParseConfig(testenv.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 16
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

// openPgqueue returns package queue over pgqueue on a fresh database.
func openPgqueue(b testing.TB) *queue.Queue {
	d, err := pgqueue.Open(context.Background(), pgPool(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	q, err := queue.New(d, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = q.Close(); _ = d.Close() })
	return q
}

// pgqueueSide consumes with one Consume loop of workers handlers (what
// one process does), polling from 1 ms up to 50 ms when LISTEN/NOTIFY is
// quiet.
func pgqueueSide(q *queue.Queue, workers int) e2eSide {
	return queueSide(q, 1, &queue.SubscriptionOptions{PollMin: time.Millisecond, PollInterval: 50 * time.Millisecond},
		&queue.ConsumeOptions{Concurrency: workers, Prefetch: 2 * workers})
}

// rawPgSide is the same work in hand-written SQL on a plain table: a
// batched INSERT … unnest, SELECT … FOR UPDATE SKIP LOCKED leasing of
// pgLease rows, a batched DELETE as the ack.
func rawPgSide(b testing.TB, pool *pgxpool.Pool) e2eSide {
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_raw (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	body bytea NOT NULL, deliveries int NOT NULL DEFAULT 0, not_before timestamptz NOT NULL DEFAULT now(), lease_until timestamptz)`); err != nil {
		b.Fatal(err)
	}
	bodies := make([][]byte, qBatch)
	for i := range bodies {
		bodies[i] = qBody
	}
	const lease = `WITH c AS (
	SELECT id FROM bench_raw WHERE not_before <= now() AND (lease_until IS NULL OR lease_until <= now())
	ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
UPDATE bench_raw r SET deliveries = r.deliveries + 1, lease_until = now() + interval '30 seconds'
FROM c WHERE r.id = c.id RETURNING r.id, r.body`
	return e2eSide{
		start: func(ctx context.Context, handled func(int)) (func() error, error) {
			cctx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			errc := make(chan error, pgWorkers)
			for w := 0; w < pgWorkers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					idle := time.NewTicker(time.Millisecond)
					defer idle.Stop()
					var ids []int64
					for cctx.Err() == nil {
						ids = ids[:0]
						rows, err := pool.Query(cctx, lease, pgLease)
						if err == nil {
							var id int64
							var body []byte
							_, err = pgx.ForEachRow(rows, []any{&id, &body}, func() error { ids = append(ids, id); return nil })
						}
						if err == nil && len(ids) > 0 {
							_, err = pool.Exec(cctx, "DELETE FROM bench_raw WHERE id = ANY($1)", ids)
						}
						if err != nil {
							if cctx.Err() == nil {
								errc <- err
							}
							return
						}
						if len(ids) == 0 {
							select {
							case <-idle.C:
							case <-cctx.Done():
							}
							continue
						}
						handled(len(ids))
					}
				}()
			}
			return onceStop(func() error {
				cancel()
				wg.Wait()
				select {
				case err := <-errc:
					return err
				default:
					return nil
				}
			}), nil
		},
		publish: func(ctx context.Context, k int) error {
			_, err := pool.Exec(ctx, "INSERT INTO bench_raw (body) SELECT unnest($1::bytea[])", bodies[:k])
			return err
		},
	}
}

// BenchmarkCmpQueuePostgres: publish + consume + ack end to end, pgqueue
// against the same SKIP LOCKED SQL written by hand, each on its own fresh
// database of the same server.
func BenchmarkCmpQueuePostgres(b *testing.B) {
	q := openPgqueue(b)
	raw := pgPool(b)
	b.Run("scalekit", func(b *testing.B) { endToEnd(b, pgqueueSide(q, pgWorkers), "msgs/s") })
	b.Run("raw", func(b *testing.B) { endToEnd(b, rawPgSide(b, raw), "msgs/s") })
}

// noopArgs is the River job of the benchmark: no arguments, no work.
type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	handled func(int)
}

func (w *noopWorker) Work(context.Context, *river.Job[noopArgs]) error {
	w.handled(1)
	return nil
}

// riverPool opens a fresh database and runs River's migrations on it once.
func riverPool(b testing.TB) *pgxpool.Pool {
	p := pgPool(b)
	m, err := rivermigrate.New(riverpgxv5.New(p), &rivermigrate.Config{Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Migrate(context.Background(), rivermigrate.DirectionUp, nil); err != nil {
		b.Fatal(err)
	}
	return p
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// newRiver returns a River client on p with the given workers on one
// queue. FetchCooldown is River's minimum (1 ms; the default 100 ms caps
// a client at MaxWorkers jobs per 100 ms) and FetchPollInterval is 50 ms,
// as pgqueue's PollInterval; LISTEN/NOTIFY is on for both.
func newRiver(p *pgxpool.Pool, workers int, handled func(int)) (*river.Client[pgx.Tx], error) {
	cfg := &river.Config{Logger: quietLog}
	if handled != nil {
		cfg.Workers = river.NewWorkers()
		river.AddWorker(cfg.Workers, &noopWorker{handled: handled})
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}}
		cfg.FetchCooldown = time.Millisecond
		cfg.FetchPollInterval = 50 * time.Millisecond
	}
	return river.NewClient(riverpgxv5.New(p), cfg)
}

// riverSide inserts with InsertMany and works with one started client of
// workers workers. stop is River's graceful Stop, which waits for every
// goroutine of the client (producers, completer, notifier, maintenance).
func riverSide(p *pgxpool.Pool, workers int) e2eSide {
	params := make([]river.InsertManyParams, qBatch)
	for i := range params {
		params[i] = river.InsertManyParams{Args: noopArgs{}}
	}
	var c *river.Client[pgx.Tx]
	return e2eSide{
		start: func(ctx context.Context, handled func(int)) (func() error, error) {
			var err error
			if c, err = newRiver(p, workers, handled); err != nil {
				return nil, err
			}
			if err := c.Start(ctx); err != nil {
				return nil, err
			}
			return onceStop(func() error {
				sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				return c.Stop(sctx)
			}), nil
		},
		publish: func(ctx context.Context, k int) error {
			_, err := c.InsertMany(ctx, params[:k])
			return err
		},
	}
}

// BenchmarkCmpQueueRiver: end to end on the same PostgreSQL server (a
// fresh database per side), the same job count and the same worker count
// (16, then 128): pgqueue's batched Publish and one Consume of that many
// handlers against River's InsertMany and one client of that many
// workers. The handlers only return nil. River fetches at most as many
// jobs as it has free workers, so its worker count is also its fetch
// batch.
//
// Each worker count gets its own pair of fresh databases: a database that
// already churned thousands of messages (dead tuples, autovacuum) is
// slower for either side, so neither inherits the other group's churn.
func BenchmarkCmpQueueRiver(b *testing.B) {
	for _, w := range []int{pgWorkers, 128} {
		b.Run("workers="+strconv.Itoa(w), func(b *testing.B) {
			q := openPgqueue(b)
			rp := riverPool(b)
			b.Run("scalekit", func(b *testing.B) { endToEnd(b, pgqueueSide(q, w), "jobs/s") })
			b.Run("river", func(b *testing.B) { endToEnd(b, riverSide(rp, w), "jobs/s") })
		})
	}
}

// BenchmarkCmpQueueRiverInsert: publishing alone, in batches of qBatch,
// to a topic with one subscription (pgqueue writes a row per
// subscription) against River's InsertMany of the same batch (a client
// that only inserts), and against InsertManyFast (COPY FROM, returns a
// count instead of the rows). One op is one message.
func BenchmarkCmpQueueRiverInsert(b *testing.B) {
	ctx := context.Background()
	q := openPgqueue(b)
	rp := riverPool(b)
	insert := func(b *testing.B, publish func(k int) error) {
		b.ResetTimer()
		for n := 0; n < b.N; n += qBatch {
			if err := publish(min(qBatch, b.N-n)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	}
	b.Run("scalekit", func(b *testing.B) {
		topic := qName("p")
		if _, err := q.Subscribe(ctx, topic, "work", nil); err != nil {
			b.Fatal(err)
		}
		msgs := make([]queue.Message, qBatch)
		insert(b, func(k int) error {
			for i := range msgs[:k] {
				msgs[i] = queue.Message{Body: qBody}
			}
			_, err := q.Publish(ctx, topic, msgs[:k]...)
			return err
		})
	})
	// River's two insert paths, on the same jobs.
	riverInsert := func(fast bool) func(*testing.B) {
		return func(b *testing.B) {
			c, err := newRiver(rp, 0, nil)
			if err != nil {
				b.Fatal(err)
			}
			params := make([]river.InsertManyParams, qBatch)
			for i := range params {
				params[i] = river.InsertManyParams{Args: noopArgs{}}
			}
			insert(b, func(k int) error {
				if fast {
					_, err := c.InsertManyFast(ctx, params[:k])
					return err
				}
				_, err := c.InsertMany(ctx, params[:k])
				return err
			})
		}
	}
	b.Run("river", riverInsert(false))
	b.Run("river-fast", riverInsert(true))
}
