package pglock_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/pglock"
)

// countingDB counts the statements sent to the server: each is one round
// trip (pgx caches prepared statements, so after the first call of each
// statement no extra prepare is sent).
type countingDB struct {
	pglock.DB
	n atomic.Int64
}

func (c *countingDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c.n.Add(1)
	return c.DB.Exec(ctx, sql, args...)
}

func (c *countingDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.n.Add(1)
	return c.DB.QueryRow(ctx, sql, args...)
}

func benchDriver(b *testing.B) (*pglock.Driver, *countingDB) {
	b.Helper()
	p := pool(b, testenv.PostgresURL(b)+"&pool_max_conns=16")
	db := &countingDB{DB: p}
	d, err := pglock.Open(context.Background(), db, nil)
	if err != nil {
		b.Fatal(err)
	}
	return d, db
}

// BenchmarkDriverAcquireRelease is one TryAcquire and one Release of a free
// key on the driver: two statements, two round trips.
func BenchmarkDriverAcquireRelease(b *testing.B) {
	d, db := benchDriver(b)
	ctx := context.Background()
	db.n.Store(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.TryAcquire(ctx, driver.Request{Key: "bench", Owner: "o", TTL: time.Minute}); err != nil {
			b.Fatal(err)
		}
		if err := d.Release(ctx, "bench", "o"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(db.n.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkAcquireRelease is lock.Locker's TryAcquire and Lease.Release of
// a free key (lease timer, spans and metrics included), with 1 and 8
// workers on distinct keys; ops/s is pairs per second over all workers.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			d, db := benchDriver(b)
			lk, err := lock.New(d, &lock.Options{TTL: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			runWorkers(b, workers, func(ctx context.Context, key string) error {
				l, err := lk.TryAcquire(ctx, key, nil)
				if err != nil {
					return err
				}
				return l.Release(ctx)
			}, db.n.Load)
		})
	}
}

// runWorkers splits b.N pairs over workers goroutines, each on its own key,
// and reports ops/s and round trips per op (from calls, a counter of
// round trips).
func runWorkers(b *testing.B, workers int, op func(ctx context.Context, key string) error, calls func() int64) {
	b.Helper()
	ctx := context.Background()
	for w := 0; w < workers; w++ { // warm up connections and statements
		if err := op(ctx, fmt.Sprintf("bench-%d", w)); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	before := calls()
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(key string) {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := op(ctx, key); err != nil {
					b.Error(err)
					return
				}
			}
		}(fmt.Sprintf("bench-%d", w))
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(calls()-before)/float64(b.N), "roundtrips/op")
}
