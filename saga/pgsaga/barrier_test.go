package pgsaga_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/saga/pgsaga"
)

type bank struct {
	p *pgxpool.Pool
	b *pgsaga.Barrier
}

func newBank(t *testing.T) (*bank, string) {
	t.Helper()
	url := testenv.PostgresURL(t)
	p := pool(t, url)
	b, err := pgsaga.OpenBarrier(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(context.Background(), `CREATE TABLE acct (id text PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO acct VALUES ('a', 0)`); err != nil {
		t.Fatal(err)
	}
	return &bank{p: p, b: b}, url
}

// call runs op for key in its own transaction: the action adds 10, the
// compensation subtracts 10.
func (k *bank) call(key pgsaga.Key, op pgsaga.Op) (pgsaga.Outcome, error) {
	ctx := context.Background()
	tx, err := k.p.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	delta := 10
	if op == pgsaga.OpCompensate {
		delta = -10
	}
	out, err := k.b.Do(ctx, tx, key, op, func(ctx context.Context) error {
		_, err := tx.Exec(ctx, `UPDATE acct SET balance = balance + $1 WHERE id = 'a'`, delta)
		return err
	})
	if err != nil {
		return out, err
	}
	return out, tx.Commit(ctx)
}

func (k *bank) balance(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := k.p.QueryRow(context.Background(), `SELECT balance FROM acct WHERE id = 'a'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBarrierDuplicateDeliveryConcurrent(t *testing.T) {
	k, _ := newBank(t)
	for _, op := range []pgsaga.Op{pgsaga.OpAction, pgsaga.OpCompensate} {
		var wg sync.WaitGroup
		outs := make([]pgsaga.Outcome, 8)
		errs := make([]error, 8)
		for i := range outs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				outs[i], errs[i] = k.call(pgsaga.Key{TxID: "tx1", Branch: "b1"}, op)
			}(i)
		}
		wg.Wait()
		ran := 0
		for i, o := range outs {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if o == pgsaga.Ran {
				ran++
			} else if o != pgsaga.Duplicate {
				t.Fatalf("%s delivered 8 times: outcome %v", op, o)
			}
		}
		if ran != 1 {
			t.Fatalf("%s delivered 8 times at once ran %d times, want 1", op, ran)
		}
	}
	if b := k.balance(t); b != 0 {
		t.Fatalf("balance %d after one action and one compensation, want 0", b)
	}
}

func TestBarrierNullCompensationAndHanging(t *testing.T) {
	k, _ := newBank(t)
	key := pgsaga.Key{TxID: "tx1", Branch: "b1"}
	if out, err := k.call(key, pgsaga.OpCompensate); err != nil || out != pgsaga.NullCompensation {
		t.Fatalf("compensation before action: %v, %v; want null compensation", out, err)
	}
	if out, err := k.call(key, pgsaga.OpAction); err != nil || out != pgsaga.Refused {
		t.Fatalf("action after compensation: %v, %v; want refused", out, err)
	}
	if out, err := k.call(key, pgsaga.OpCompensate); err != nil || out != pgsaga.Duplicate {
		t.Fatalf("second compensation: %v, %v; want duplicate", out, err)
	}
	if b := k.balance(t); b != 0 {
		t.Fatalf("balance %d, want 0: nothing may have been applied", b)
	}
}

// TestBarrierOutOfOrderRace delivers an action and its compensation at
// the same time, many times: whatever the order, the net effect is zero
// and the action never applies after its compensation.
func TestBarrierOutOfOrderRace(t *testing.T) {
	k, _ := newBank(t)
	seen := map[[2]pgsaga.Outcome]int{}
	for round := 0; round < 40; round++ {
		key := pgsaga.Key{TxID: fmt.Sprintf("tx%d", round), Branch: "b"}
		var wg sync.WaitGroup
		var act, comp pgsaga.Outcome
		var aerr, cerr error
		wg.Add(2)
		go func() { defer wg.Done(); act, aerr = k.call(key, pgsaga.OpAction) }()
		go func() { defer wg.Done(); comp, cerr = k.call(key, pgsaga.OpCompensate) }()
		wg.Wait()
		if aerr != nil || cerr != nil {
			t.Fatal(aerr, cerr)
		}
		switch [2]pgsaga.Outcome{act, comp} {
		case [2]pgsaga.Outcome{pgsaga.Ran, pgsaga.Ran}, [2]pgsaga.Outcome{pgsaga.Refused, pgsaga.NullCompensation}:
		default:
			t.Fatalf("round %d: action %v, compensation %v", round, act, comp)
		}
		seen[[2]pgsaga.Outcome{act, comp}]++
		if b := k.balance(t); b != 0 {
			t.Fatalf("round %d: balance %d, want 0", round, b)
		}
	}
	t.Logf("orders seen: %v", seen)
}

func TestBarrierFailedActionRetries(t *testing.T) {
	k, _ := newBank(t)
	ctx := context.Background()
	key := pgsaga.Key{TxID: "tx", Branch: "b"}
	boom := errors.New("boom")
	tx, _ := k.p.Begin(ctx)
	if _, err := k.b.Do(ctx, tx, key, pgsaga.OpAction, func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Do = %v, want boom", err)
	}
	_ = tx.Rollback(ctx)
	if out, err := k.call(key, pgsaga.OpAction); err != nil || out != pgsaga.Ran {
		t.Fatalf("retry after a rolled-back attempt: %v, %v; want ran", out, err)
	}
	if out, err := k.call(key, pgsaga.OpConfirm); err != nil || out != pgsaga.Ran {
		t.Fatalf("confirm: %v, %v", out, err)
	}
	if out, err := k.call(key, pgsaga.OpConfirm); err != nil || out != pgsaga.Duplicate {
		t.Fatalf("second confirm: %v, %v", out, err)
	}
}

func TestBarrierDatabaseSQL(t *testing.T) {
	k, url := newBank(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	run := func(op pgsaga.Op) pgsaga.Outcome {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		out, err := k.b.DoSQL(ctx, tx, pgsaga.Key{TxID: "s", Branch: "b"}, op, func(ctx context.Context) error {
			_, err := tx.ExecContext(ctx, `UPDATE acct SET balance = balance + 10 WHERE id = 'a'`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if o := run(pgsaga.OpAction); o != pgsaga.Ran {
		t.Fatalf("first: %v", o)
	}
	if o := run(pgsaga.OpAction); o != pgsaga.Duplicate {
		t.Fatalf("second: %v", o)
	}
	if b := k.balance(t); b != 10 {
		t.Fatalf("balance %d, want 10", b)
	}
}

func TestBarrierBadInput(t *testing.T) {
	k, _ := newBank(t)
	ctx := context.Background()
	tx, _ := k.p.Begin(ctx)
	defer tx.Rollback(ctx)
	nop := func(context.Context) error { return nil }
	for name, c := range map[string]func() error{
		"nil tx": func() error {
			_, err := k.b.Do(ctx, nil, pgsaga.Key{TxID: "a", Branch: "b"}, pgsaga.OpAction, nop)
			return err
		},
		"nil sql tx": func() error {
			_, err := k.b.DoSQL(ctx, nil, pgsaga.Key{TxID: "a", Branch: "b"}, pgsaga.OpAction, nop)
			return err
		},
		"empty txid":   func() error { _, err := k.b.Do(ctx, tx, pgsaga.Key{Branch: "b"}, pgsaga.OpAction, nop); return err },
		"empty branch": func() error { _, err := k.b.Do(ctx, tx, pgsaga.Key{TxID: "a"}, pgsaga.OpAction, nop); return err },
		"unknown op":   func() error { _, err := k.b.Do(ctx, tx, pgsaga.Key{TxID: "a", Branch: "b"}, "delete", nop); return err },
		"nil fn": func() error {
			_, err := k.b.Do(ctx, tx, pgsaga.Key{TxID: "a", Branch: "b"}, pgsaga.OpAction, nil)
			return err
		},
	} {
		if err := c(); !errors.Is(err, pgsaga.ErrInvalidBarrier) {
			t.Errorf("%s: %v, want ErrInvalidBarrier", name, err)
		}
	}
	if _, err := pgsaga.NewBarrier(&pgsaga.BarrierOptions{Table: "a.b.c"}); err == nil {
		t.Error("NewBarrier with a bad table name succeeded")
	}
}
