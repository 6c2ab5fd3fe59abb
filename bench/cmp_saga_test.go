package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/pglock"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/pgsaga"
)

// sagaAccounts is the number of account triples: each benchmark worker
// moves money within its own triple, so row locks never serialise two
// workers.
const sagaAccounts = 64

// transfer moves Amount from "a"+Acct to "b"+Acct and a fee of one from
// "b"+Acct to "c"+Acct: three local transactions.
type transfer struct {
	Amount int
	Acct   string
}

func addBalance(ctx context.Context, tx pgx.Tx, id string, delta int) error {
	_, err := tx.Exec(ctx, `UPDATE acct SET balance = balance + $2 WHERE id = $1`, id, delta)
	return err
}

// sagaBank creates the accounts on p.
func sagaBank(t testing.TB, p *pgxpool.Pool) {
	ctx := context.Background()
	if _, err := p.Exec(ctx, `CREATE TABLE acct (id text PRIMARY KEY, balance bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < sagaAccounts; i++ {
		if _, err := p.Exec(ctx, `INSERT INTO acct VALUES ($1, 1000000000), ($2, 0), ($3, 0)`,
			fmt.Sprint("a", i), fmt.Sprint("b", i), fmt.Sprint("c", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// transferWork is the body of each step and of its compensation.
var transferWork = [3]struct {
	name     string
	do, undo func(ctx context.Context, tx pgx.Tx, d transfer) error
}{
	{"debit",
		func(ctx context.Context, tx pgx.Tx, d transfer) error {
			return addBalance(ctx, tx, "a"+d.Acct, -d.Amount)
		},
		func(ctx context.Context, tx pgx.Tx, d transfer) error {
			return addBalance(ctx, tx, "a"+d.Acct, d.Amount)
		}},
	{"credit",
		func(ctx context.Context, tx pgx.Tx, d transfer) error {
			return addBalance(ctx, tx, "b"+d.Acct, d.Amount)
		},
		func(ctx context.Context, tx pgx.Tx, d transfer) error {
			return addBalance(ctx, tx, "b"+d.Acct, -d.Amount)
		}},
	{"fee",
		func(ctx context.Context, tx pgx.Tx, d transfer) error {
			if err := addBalance(ctx, tx, "b"+d.Acct, -1); err != nil {
				return err
			}
			return addBalance(ctx, tx, "c"+d.Acct, 1)
		},
		func(ctx context.Context, tx pgx.Tx, d transfer) error {
			if err := addBalance(ctx, tx, "c"+d.Acct, -1); err != nil {
				return err
			}
			return addBalance(ctx, tx, "b"+d.Acct, 1)
		}},
}

// newTransferSaga registers the transfer saga on p: the pgsaga log and
// the pglock leases in the same database, each step a local transaction
// behind pgsaga's barrier (exactly-once per step and per compensation).
func newTransferSaga(t testing.TB, p *pgxpool.Pool) *saga.Saga[transfer] {
	ctx := context.Background()
	log, err := pgsaga.Open(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	ld, err := pglock.Open(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := lock.New(ld, &lock.Options{TTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bar, err := pgsaga.OpenBarrier(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := saga.New(log, lk, nil)
	if err != nil {
		t.Fatal(err)
	}
	var steps []saga.Step[transfer]
	for _, w := range transferWork {
		steps = append(steps, saga.Step[transfer]{
			Name: w.name,
			Action: pgsaga.Action(bar, p, func(ctx context.Context, tx pgx.Tx, _ saga.Call, d transfer) error {
				return w.do(ctx, tx, d)
			}),
			Compensate: pgsaga.Compensation(bar, p, func(ctx context.Context, tx pgx.Tx, _ saga.Call, d transfer) error {
				return w.undo(ctx, tx, d)
			}),
		})
	}
	s, err := saga.Register(o, "transfer", steps)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// plainTransfer runs the three steps as three local transactions, with
// no log, no lock and no barrier.
func plainTransfer(ctx context.Context, p *pgxpool.Pool, d transfer) error {
	for _, w := range transferWork {
		if err := pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error { return w.do(ctx, tx, d) }); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkCmpSaga: a three-step transfer saga on pgsaga (log, lease and
// barrier in the same PostgreSQL database as the accounts) against the
// same three local transactions run without a saga, on a second fresh
// database of the same server. 4 workers per CPU, each on its own
// accounts; one op is one transfer.
func BenchmarkCmpSaga(b *testing.B) {
	ctx := context.Background()
	sp, pp := pgPool(b), pgPool(b)
	sagaBank(b, sp)
	sagaBank(b, pp)
	s := newTransferSaga(b, sp)
	var seq, workers atomic.Int64
	run := func(b *testing.B, f func(d transfer) error) {
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			acct := fmt.Sprint(workers.Add(1) % sagaAccounts)
			for pb.Next() {
				if err := f(transfer{Amount: 1, Acct: acct}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sagas/s")
	}
	b.Run("scalekit", func(b *testing.B) {
		run(b, func(d transfer) error { return s.Run(ctx, fmt.Sprint("s", seq.Add(1)), d) })
	})
	b.Run("plain", func(b *testing.B) {
		run(b, func(d transfer) error { return plainTransfer(ctx, pp, d) })
	})
}

// TestSagaSides runs both contenders of BenchmarkCmpSaga a few times and
// checks the money: every transfer moved 1 from a to b and 1 from b to c.
func TestSagaSides(t *testing.T) {
	ctx := context.Background()
	sp, pp := pgPool(t), pgPool(t)
	sagaBank(t, sp)
	sagaBank(t, pp)
	s := newTransferSaga(t, sp)
	for i := 0; i < 3; i++ {
		if err := s.Run(ctx, fmt.Sprint("s", i), transfer{Amount: 5, Acct: "0"}); err != nil {
			t.Fatal(err)
		}
		if err := plainTransfer(ctx, pp, transfer{Amount: 5, Acct: "0"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*pgxpool.Pool{sp, pp} {
		var a, bb, c int64
		if err := p.QueryRow(ctx, `SELECT (SELECT balance FROM acct WHERE id='a0'), (SELECT balance FROM acct WHERE id='b0'),
	(SELECT balance FROM acct WHERE id='c0')`).Scan(&a, &bb, &c); err != nil {
			t.Fatal(err)
		}
		if a != 1000000000-15 || bb != 12 || c != 3 {
			t.Fatalf("balances a=%d b=%d c=%d, want a=%d b=12 c=3", a, bb, c, 1000000000-15)
		}
	}
}
