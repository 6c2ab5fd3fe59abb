package pgsaga_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/memlock"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/driver"
	"github.com/scalekit-go/scalekit/saga/memsaga"
	"github.com/scalekit-go/scalekit/saga/pgsaga"
)

// countingLog counts the writes a saga makes.
type countingLog struct {
	driver.Log
	writes atomic.Int64
}

func (l *countingLog) Create(ctx context.Context, r driver.Record) error {
	l.writes.Add(1)
	return l.Log.Create(ctx, r)
}

func (l *countingLog) Update(ctx context.Context, r driver.Record) error {
	l.writes.Add(1)
	return l.Log.Update(ctx, r)
}

// benchParallelism is the number of workers per CPU (I/O-bound work).
const benchParallelism = 4

// benchAccounts spreads the benchmark over this many account triples so
// that row locks do not serialize it.
const benchAccounts = 64

func setupBenchBank(b *testing.B, p *pgxpool.Pool) {
	b.Helper()
	setupBank(b, p)
	for i := 0; i < benchAccounts; i++ {
		if _, err := p.Exec(context.Background(), `INSERT INTO acct VALUES ($1, 1000000000), ($2, 0), ($3, 0)`,
			fmt.Sprint("a", i), fmt.Sprint("b", i), fmt.Sprint("c", i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSagaTransfer compares, in one run, a three-step transfer saga
// (each step a local transaction behind the barrier) with the memory log
// and with the PostgreSQL log against the same three local transactions
// run without a saga (no log, no lock, no barrier). Reported: sagas/s
// and log writes per step.
func BenchmarkSagaTransfer(b *testing.B) {
	url := testenv.PostgresURL(b)
	p := pool(b, url)
	setupBenchBank(b, p)
	// Each worker goroutine has its own accounts (no row-lock waits
	// between workers); saga ids are unique across the whole run.
	var seq, workers atomic.Int64
	worker := func() string { return fmt.Sprint(workers.Add(1) % benchAccounts) }
	next := func(acct string) (string, transfer) {
		return fmt.Sprint("s", seq.Add(1)), transfer{Amount: 1, Acct: acct}
	}
	report := func(b *testing.B, writes int64) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sagas/s")
		if writes > 0 {
			b.ReportMetric(float64(writes)/float64(b.N)/3, "logwrites/step")
		}
	}
	ctx := context.Background()
	bar, err := pgsaga.OpenBarrier(ctx, p, nil)
	if err != nil {
		b.Fatal(err)
	}
	local := func(b *testing.B, barrier bool) {
		b.SetParallelism(benchParallelism)
		tx := func(id, step string, f func(tx pgx.Tx) error) error {
			t, err := p.Begin(ctx)
			if err != nil {
				return err
			}
			defer t.Rollback(ctx)
			if barrier {
				_, err = bar.Do(ctx, t, pgsaga.Key{TxID: id, Branch: step}, pgsaga.OpAction, func(context.Context) error { return f(t) })
			} else {
				err = f(t)
			}
			if err != nil {
				return err
			}
			return t.Commit(ctx)
		}
		b.RunParallel(func(pb *testing.PB) {
			acct := worker()
			for pb.Next() {
				id, d := next(acct)
				err := tx(id, "debit", func(t pgx.Tx) error { return add(ctx, t, "a"+d.Acct, -d.Amount) })
				if err == nil {
					err = tx(id, "credit", func(t pgx.Tx) error { return add(ctx, t, "b"+d.Acct, d.Amount) })
				}
				if err == nil {
					err = tx(id, "fee", func(t pgx.Tx) error {
						if err := add(ctx, t, "b"+d.Acct, -1); err != nil {
							return err
						}
						return add(ctx, t, "c"+d.Acct, 1)
					})
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
		report(b, 0)
	}
	b.Run("local-tx", func(b *testing.B) { local(b, false) })
	b.Run("local-tx+barrier", func(b *testing.B) { local(b, true) })
	run := func(b *testing.B, log *countingLog, o *saga.Orchestrator, s *saga.Saga[transfer]) {
		b.SetParallelism(benchParallelism)
		b.ResetTimer()
		log.writes.Store(0)
		b.RunParallel(func(pb *testing.PB) {
			acct := worker()
			for pb.Next() {
				id, d := next(acct)
				if err := s.Run(context.Background(), id, d); err != nil {
					b.Error(err)
					return
				}
			}
		})
		report(b, log.writes.Load())
	}
	b.Run("saga-memlog", func(b *testing.B) {
		log := &countingLog{Log: memsaga.New(nil)}
		lk, _ := lock.New(memlock.New(nil), nil)
		o, _ := saga.New(log, lk, nil)
		s, _ := saga.Register(o, "transfer", transferSteps(bar, p, false, nil))
		run(b, log, o, s)
	})
	b.Run("saga-pglog", func(b *testing.B) {
		pl, err := pgsaga.Open(context.Background(), p, nil)
		if err != nil {
			b.Fatal(err)
		}
		log := &countingLog{Log: pl}
		o, s := sagaInstanceOn(b, p, log, false, nil)
		run(b, log, o, s)
	})
}

// BenchmarkTwoPhaseTransfer measures 2PC transfers/s between two
// databases (decision log in the first) against the same two local
// transactions without atomicity, in one run.
func BenchmarkTwoPhaseTransfer(b *testing.B) {
	ctx := context.Background()
	p1, p2 := pool(b, testenv.PostgresURL(b)), pool(b, testenv.PostgresURL(b))
	for _, p := range []*pgxpool.Pool{p1, p2} {
		setupBenchBank(b, p)
	}
	log, err := pgsaga.Open(ctx, p1, nil)
	if err != nil {
		b.Fatal(err)
	}
	r1, _ := pgsaga.NewResource("bank1", p1, nil)
	r2, _ := pgsaga.NewResource("bank2", p2, nil)
	c, _ := saga.NewCoordinator(log, nil)
	var seq, workers atomic.Int64
	moveAcct := func(acct string, delta int) func(ctx context.Context, tx pgx.Tx) error {
		return func(ctx context.Context, tx pgx.Tx) error { return add(ctx, tx, acct, delta) }
	}
	// Each worker has its own account: two transfers on one account in
	// opposite orders across the databases would deadlock until the
	// prepare timeout (PostgreSQL cannot see a deadlock that spans two
	// servers).
	b.Run("local-tx", func(b *testing.B) {
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			acct := fmt.Sprint("a", workers.Add(1)%benchAccounts)
			for pb.Next() {
				for i, p := range []*pgxpool.Pool{p1, p2} {
					tx, err := p.Begin(ctx)
					if err == nil {
						err = moveAcct(acct, []int{-1, 1}[i])(ctx, tx)
					}
					if err == nil {
						err = tx.Commit(ctx)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
	})
	b.Run("2pc", func(b *testing.B) {
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			acct := fmt.Sprint("a", workers.Add(1)%benchAccounts)
			for pb.Next() {
				n := seq.Add(1)
				if err := c.Do(ctx, fmt.Sprint("t", n), r1.Branch(moveAcct(acct, -1)), r2.Branch(moveAcct(acct, 1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
	})
}
