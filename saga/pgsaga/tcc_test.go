package pgsaga_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/memsaga"
	"github.com/scalekit-go/scalekit/saga/pgsaga"
)

// seats is a TCC resource on PostgreSQL: Try holds a seat, Confirm sells
// it, Cancel frees it — each behind the barrier in its own transaction.
type seats struct {
	p    *pgxpool.Pool
	b    *pgsaga.Barrier
	gate chan struct{} // when set, Try waits for it before its transaction
}

func (s *seats) op(op pgsaga.Op, sql string) func(ctx context.Context, txid string) error {
	return func(ctx context.Context, txid string) error {
		if op == pgsaga.OpAction && s.gate != nil {
			<-s.gate
			ctx = context.Background() // the late delivery of a timed-out Try
		}
		tx, err := s.p.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := s.b.Do(ctx, tx, pgsaga.Key{TxID: txid, Branch: "seats"}, op, func(ctx context.Context) error {
			_, err := tx.Exec(ctx, sql)
			return err
		}); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
}

func (s *seats) tcc() saga.TCC {
	return saga.TCC{
		Resource: "seats",
		Try:      s.op(pgsaga.OpAction, `UPDATE seat SET free = free - 1, held = held + 1`),
		Confirm:  s.op(pgsaga.OpConfirm, `UPDATE seat SET held = held - 1, sold = sold + 1`),
		Cancel:   s.op(pgsaga.OpCompensate, `UPDATE seat SET held = held - 1, free = free + 1`),
	}
}

func (s *seats) counts(t *testing.T) (free, held, sold int) {
	t.Helper()
	if err := s.p.QueryRow(context.Background(), `SELECT free, held, sold FROM seat`).Scan(&free, &held, &sold); err != nil {
		t.Fatal(err)
	}
	return
}

func newSeats(t *testing.T) *seats {
	t.Helper()
	p := pool(t, testenv.PostgresURL(t))
	b, err := pgsaga.OpenBarrier(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(context.Background(), `CREATE TABLE seat (free int NOT NULL, held int NOT NULL, sold int NOT NULL);
INSERT INTO seat VALUES (10, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	return &seats{p: p, b: b}
}

func TestTCCOnPostgres(t *testing.T) {
	s := newSeats(t)
	c, _ := saga.NewCoordinator(memsaga.New(nil), nil)
	if err := c.Do(context.Background(), "t1", s.tcc()); err != nil {
		t.Fatal(err)
	}
	if f, h, so := s.counts(t); f != 9 || h != 0 || so != 1 {
		t.Fatalf("free %d held %d sold %d after a confirmed TCC", f, h, so)
	}
}

// TestTCCHangingTry: the Try times out, the coordinator cancels (a null
// cancel: nothing was held), and then the Try arrives. The barrier must
// refuse it, or the seat would stay held forever.
func TestTCCHangingTry(t *testing.T) {
	s := newSeats(t)
	s.gate = make(chan struct{})
	c, _ := saga.NewCoordinator(memsaga.New(nil), &saga.CoordinatorOptions{PrepareTimeout: 50 * time.Millisecond})
	tcc := s.tcc()
	late := make(chan error, 1)
	part := saga.TCC{Resource: "seats", Confirm: tcc.Confirm, Cancel: tcc.Cancel,
		Try: func(ctx context.Context, txid string) error {
			go func() { late <- tcc.Try(ctx, txid) }() // delivered late, after the timeout
			<-ctx.Done()
			return ctx.Err()
		}}
	if err := c.Do(context.Background(), "t1", part); !errors.Is(err, saga.ErrAborted) {
		t.Fatalf("Do = %v, want ErrAborted", err)
	}
	close(s.gate)
	if err := <-late; err != nil {
		t.Fatal(err)
	}
	if f, h, so := s.counts(t); f != 10 || h != 0 || so != 0 {
		t.Fatalf("free %d held %d sold %d: the late Try must not hold a seat", f, h, so)
	}
}
