package pgsaga_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/driver"
	"github.com/scalekit-go/scalekit/saga/pgsaga"
)

// twoBanks is a transfer setup: two databases, each with one account of
// 100, and a decision log in the first.
type twoBanks struct {
	p1, p2 *pgxpool.Pool
	r1, r2 *pgsaga.Resource
	log    *pgsaga.Log
}

func newTwoBanks(t *testing.T) *twoBanks {
	t.Helper()
	ctx := context.Background()
	tb := &twoBanks{p1: pool(t, testenv.PostgresURL(t)), p2: pool(t, testenv.PostgresURL(t))}
	for _, p := range []*pgxpool.Pool{tb.p1, tb.p2} {
		if _, err := p.Exec(ctx, `CREATE TABLE acct (id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
INSERT INTO acct VALUES ('x', 100);
CREATE TABLE ledger (tx text PRIMARY KEY, delta bigint NOT NULL)`); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if tb.log, err = pgsaga.Open(ctx, tb.p1, nil); err != nil {
		t.Fatal(err)
	}
	tb.r1, _ = pgsaga.NewResource("bank1", tb.p1, nil)
	tb.r2, _ = pgsaga.NewResource("bank2", tb.p2, nil)
	t.Cleanup(func() { tb.rollbackAll(t) })
	return tb
}

// rollbackAll removes prepared transactions a failed test left, so the
// databases can be dropped.
func (tb *twoBanks) rollbackAll(t *testing.T) {
	for _, r := range []*pgsaga.Resource{tb.r1, tb.r2} {
		ids, _ := r.Prepared(context.Background(), 0)
		for _, id := range ids {
			_ = r.Abort(context.Background(), id)
		}
	}
}

func move(delta int) func(ctx context.Context, tx pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE acct SET balance = balance + $1 WHERE id = 'x'`, delta)
		return err
	}
}

// entry books delta under tx in the ledger (no row locks shared between
// transactions, so several can be prepared at once).
func entry(tx string, delta int) func(ctx context.Context, t pgx.Tx) error {
	return func(ctx context.Context, t pgx.Tx) error {
		_, err := t.Exec(ctx, `INSERT INTO ledger VALUES ($1, $2)`, tx, delta)
		return err
	}
}

func (tb *twoBanks) ledger(t *testing.T) (int64, int64) {
	t.Helper()
	var a, b int64
	if err := tb.p1.QueryRow(context.Background(), `SELECT coalesce(sum(delta), 0) FROM ledger`).Scan(&a); err != nil {
		t.Fatal(err)
	}
	if err := tb.p2.QueryRow(context.Background(), `SELECT coalesce(sum(delta), 0) FROM ledger`).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func (tb *twoBanks) balances(t *testing.T) (int64, int64) {
	t.Helper()
	var a, b int64
	if err := tb.p1.QueryRow(context.Background(), `SELECT balance FROM acct`).Scan(&a); err != nil {
		t.Fatal(err)
	}
	if err := tb.p2.QueryRow(context.Background(), `SELECT balance FROM acct`).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func (tb *twoBanks) prepared(t *testing.T) int {
	t.Helper()
	n := 0
	for _, r := range []*pgsaga.Resource{tb.r1, tb.r2} {
		ids, err := r.Prepared(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		n += len(ids)
	}
	return n
}

func TestTwoPhaseTransfer(t *testing.T) {
	tb := newTwoBanks(t)
	c, err := saga.NewCoordinator(tb.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Do(ctx, "t1", tb.r1.Branch(move(-30)), tb.r2.Branch(move(30))); err != nil {
		t.Fatal(err)
	}
	if a, b := tb.balances(t); a != 70 || b != 130 {
		t.Fatalf("balances %d, %d after the transfer", a, b)
	}
	// Overdraft: bank1's CHECK fails in prepare; bank2 must not keep +200.
	err = c.Do(ctx, "t2", tb.r1.Branch(move(-200)), tb.r2.Branch(move(200)))
	if !errors.Is(err, saga.ErrAborted) {
		t.Fatalf("overdraft: %v, want ErrAborted", err)
	}
	if a, b := tb.balances(t); a != 70 || b != 130 {
		t.Fatalf("balances %d, %d after an aborted transfer", a, b)
	}
	if n := tb.prepared(t); n != 0 {
		t.Fatalf("%d prepared transactions left", n)
	}
}

func TestSweeperResolvesOrphans(t *testing.T) {
	tb := newTwoBanks(t)
	ctx := context.Background()
	// Orphans: prepared by a coordinator that died before deciding
	// ("lost"), one whose commit was decided ("decided"), and one the log
	// has never heard of ("stray").
	for _, id := range []string{"lost", "decided"} {
		if err := tb.log.Begin(ctx, driver.Tx{ID: id, Participants: []string{"bank1", "bank2"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"lost", "decided", "stray"} {
		if err := tb.r1.Branch(entry(id, -10)).Prepare(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := tb.r2.Branch(entry(id, 10)).Prepare(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tb.log.Decide(ctx, "decided", driver.Commit); err != nil {
		t.Fatal(err)
	}
	if n := tb.prepared(t); n != 6 {
		t.Fatalf("%d prepared, want 6", n)
	}
	// Too young to sweep.
	if n, err := tb.r1.Sweep(ctx, tb.log, time.Hour); err != nil || n != 0 {
		t.Fatalf("Sweep(1h) = %d, %v", n, err)
	}
	for _, r := range []*pgsaga.Resource{tb.r1, tb.r2} {
		if n, err := r.Sweep(ctx, tb.log, 0); err != nil || n != 3 {
			t.Fatalf("Sweep %s = %d, %v", r.Name(), n, err)
		}
	}
	if n := tb.prepared(t); n != 0 {
		t.Fatalf("%d prepared transactions left after the sweep", n)
	}
	if a, b := tb.ledger(t); a != -10 || b != 10 {
		t.Fatalf("ledgers %d, %d: only the decided transfer may commit", a, b)
	}
	// A coordinator that now tries to commit "lost" is refused.
	if d, err := tb.log.Decide(ctx, "lost", driver.Commit); err != nil || d != driver.Abort {
		t.Fatalf("late commit decision = %v, %v; want abort", d, err)
	}
}

func TestResourceBadInput(t *testing.T) {
	p := pool(t, testenv.PostgresURL(t))
	if _, err := pgsaga.NewResource("x", nil, nil); err == nil {
		t.Error("nil DB accepted")
	}
	for _, n := range []string{"", "a:b", "a'b"} {
		if _, err := pgsaga.NewResource(n, p, nil); err == nil {
			t.Errorf("name %q accepted", n)
		}
	}
	r, _ := pgsaga.NewResource("r", p, nil)
	if err := r.Branch(move(1)).Prepare(context.Background(), ""); !saga.IsPermanent(err) {
		t.Errorf("empty txid: %v", err)
	}
	long := string(make([]byte, 300))
	if err := r.Commit(context.Background(), long); err == nil {
		t.Error("over-long txid accepted")
	}
	if err := r.Commit(context.Background(), "never"); err != nil {
		t.Errorf("Commit of an unknown txid = %v, want nil", err)
	}
}
