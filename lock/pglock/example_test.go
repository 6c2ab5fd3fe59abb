package pglock_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/pglock"
)

// exampleURL is the "postgres" database of the test binary's server,
// recorded by TestExampleSetup: tests run before examples, and examples
// cannot start a server. (Per-test databases are dropped when their test
// ends; this one lives as long as the server.)
var exampleURL string

func TestExampleSetup(t *testing.T) {
	u, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	exampleURL = u.String()
}

// A lease on a PostgreSQL table, and a write to another table that only
// the newest holder can make.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, exampleURL)
	if err != nil {
		fmt.Println("run with go test, which starts PostgreSQL:", err)
		return
	}
	defer pool.Close()
	d, err := pglock.Open(ctx, pool, &pglock.Options{Table: "example_locks"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	locker, err := lock.New(d, &lock.Options{TTL: 10 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}

	lease, err := locker.Acquire(ctx, "nightly-report", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lease.Release(ctx)

	// The protected table keeps the token of its last writer.
	_, _ = pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS example_reports (
		id int PRIMARY KEY, body text NOT NULL, fence_token bigint NOT NULL DEFAULT 0)`)
	_, _ = pool.Exec(ctx, `INSERT INTO example_reports (id, body) VALUES (1, '') ON CONFLICT DO NOTHING`)
	fence := lock.SQLFence{Table: "example_reports"}
	tag, err := pool.Exec(ctx, fence.Update("body = $2", "id = $3"), lease.Token(), "done", 1)
	fmt.Println("write:", fence.Result(lease.Token(), tag.RowsAffected(), err))

	// A writer with an older token is turned away.
	tag, err = pool.Exec(ctx, fence.Update("body = $2", "id = $3"), lease.Token()-1, "stale", 1)
	fmt.Println("stale write fenced:", errors.Is(fence.Result(lease.Token()-1, tag.RowsAffected(), err), lock.ErrFenced))

	// Meanwhile nobody else gets the lock.
	_, err = locker.TryAcquire(ctx, "nightly-report", nil)
	fmt.Println("second holder:", errors.Is(err, lock.ErrLocked))
	// Output:
	// write: <nil>
	// stale write fenced: true
	// second holder: true
}

// Mutual exclusion among the sessions of one database, with no table: a
// transaction-level advisory lock, released when the transaction ends.
func ExampleLockXact() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, exampleURL)
	if err != nil {
		fmt.Println("run with go test, which starts PostgreSQL:", err)
		return
	}
	defer pool.Close()

	tx, err := pool.Begin(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := pglock.LockXact(ctx, tx, "invoice:2024-001"); err != nil {
		fmt.Println(err)
		return
	}
	// ... work on the invoice's rows in tx ...

	other, _ := pool.Begin(ctx)
	ok, _ := pglock.TryLockXact(ctx, other, "invoice:2024-001")
	fmt.Println("other transaction got it:", ok)

	_ = tx.Commit(ctx) // releases the lock
	ok, _ = pglock.TryLockXact(ctx, other, "invoice:2024-001")
	fmt.Println("after commit:", ok)
	_ = other.Rollback(ctx)
	// Output:
	// other transaction got it: false
	// after commit: true
}
