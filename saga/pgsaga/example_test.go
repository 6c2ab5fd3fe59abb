package pgsaga_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/pglock"
	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/pgsaga"
)

// exampleURL is the "postgres" database of the test binary's server,
// recorded by TestExampleSetup: tests run before examples, and examples
// cannot start a server.
var exampleURL string

func TestExampleSetup(t *testing.T) {
	u, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	exampleURL = u.String()
}

type payment struct {
	From, To string
	Amount   int
}

// A saga whose steps are local transactions behind the idempotency
// barrier, logged in PostgreSQL and owned through a pglock lease.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, exampleURL)
	if err != nil {
		fmt.Println("run with go test, which starts PostgreSQL:", err)
		return
	}
	defer pool.Close()
	// A clean slate for this example (its tables live in "postgres").
	_, err = pool.Exec(ctx, `DROP TABLE IF EXISTS ex_sagas, ex_txs, ex_barrier, ex_locks, ex_wallet;
DROP SEQUENCE IF EXISTS ex_locks_token;
CREATE TABLE ex_wallet (id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
INSERT INTO ex_wallet VALUES ('alice', 50), ('bob', 0)`)
	if err != nil {
		fmt.Println(err)
		return
	}
	log, err := pgsaga.Open(ctx, pool, &pgsaga.Options{SagaTable: "ex_sagas", TxTable: "ex_txs"})
	if err != nil {
		fmt.Println(err)
		return
	}
	barrier, _ := pgsaga.OpenBarrier(ctx, pool, &pgsaga.BarrierOptions{Table: "ex_barrier"})
	ld, _ := pglock.Open(ctx, pool, &pglock.Options{Table: "ex_locks"})
	defer ld.Close()
	locker, _ := lock.New(ld, nil)
	o, _ := saga.New(log, locker, nil)

	move := func(id string, sign int) pgsaga.Work[payment] {
		return func(ctx context.Context, tx pgx.Tx, c saga.Call, p payment) error {
			_, err := tx.Exec(ctx, `UPDATE ex_wallet SET balance = balance + $2 WHERE id = $1`, id, sign*p.Amount)
			return err
		}
	}
	pay, err := saga.Register(o, "pay", []saga.Step[payment]{
		{Name: "debit", Action: pgsaga.Action(barrier, pool, move("alice", -1)), Compensate: pgsaga.Compensation(barrier, pool, move("alice", 1))},
		{Name: "credit", Action: pgsaga.Action(barrier, pool, move("bob", 1)), Compensate: pgsaga.Compensation(barrier, pool, move("bob", -1))},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(pay.Run(ctx, "pay-1", payment{Amount: 30}))
	// The second payment overdraws alice: the debit's CHECK fails (three
	// attempts), and the saga compensates the debit (a null compensation:
	// its transaction never committed).
	err = pay.Run(ctx, "pay-2", payment{Amount: 30})
	fmt.Println(errors.Is(err, saga.ErrCompensated))
	var alice, bob int
	_ = pool.QueryRow(ctx, `SELECT (SELECT balance FROM ex_wallet WHERE id = 'alice'), (SELECT balance FROM ex_wallet WHERE id = 'bob')`).Scan(&alice, &bob)
	fmt.Println(alice, bob)
	// Output:
	// <nil>
	// true
	// 20 30
}
