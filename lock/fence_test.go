package lock_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestFence(t *testing.T) {
	var f lock.Fence
	if err := f.Admit(3); err != nil {
		t.Fatal(err)
	}
	if err := f.Admit(3); err != nil {
		t.Fatalf("same token again: %v", err)
	}
	if err := f.Admit(2); !errors.Is(err, lock.ErrFenced) {
		t.Fatalf("older token: %v, want ErrFenced", err)
	}
	wrote := false
	if err := f.Do(1, func() error { wrote = true; return nil }); !errors.Is(err, lock.ErrFenced) || wrote {
		t.Fatalf("Do with an older token: %v, wrote=%v", err, wrote)
	}
	if err := f.Do(5, func() error { wrote = true; return nil }); err != nil || !wrote || f.Last() != 5 {
		t.Fatalf("Do with a newer token: %v, wrote=%v, last=%d", err, wrote, f.Last())
	}
}

func TestSQLFenceStatements(t *testing.T) {
	if s := (lock.SQLFence{}).Update("a = $2", "id = $3"); s != "" {
		t.Fatalf("Update without a table = %q, want empty", s)
	}
	if s := (lock.SQLFence{Table: "t"}).Update("", "id = 1"); s != "" {
		t.Fatalf("Update without SET = %q, want empty", s)
	}
	f := lock.SQLFence{Table: "t", Column: "tok"}
	if err := f.Result(3, 0, nil); !errors.Is(err, lock.ErrFenced) {
		t.Fatalf("Result of 0 rows = %v", err)
	}
	boom := errors.New("boom")
	if err := f.Result(3, 0, boom); !errors.Is(err, boom) || errors.Is(err, lock.ErrFenced) {
		t.Fatalf("Result of an error = %v", err)
	}
}

// TestSQLFencePostgres runs the fenced statement on a real PostgreSQL.
func TestSQLFencePostgres(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, fence_token bigint NOT NULL DEFAULT 0);
		INSERT INTO accounts (id, balance) VALUES (1, 100)`); err != nil {
		t.Fatal(err)
	}
	f := lock.SQLFence{Table: "accounts"}
	q := f.Update("balance = $2", "id = $3")
	write := func(token int64, balance int) error {
		tag, err := conn.Exec(ctx, q, token, balance, 1)
		return f.Result(token, tag.RowsAffected(), err)
	}
	for _, c := range []struct {
		token   int64
		balance int
		fenced  bool
	}{{5, 90, false}, {5, 80, false}, {7, 70, false}, {6, 60, true}, {1, 50, true}, {8, 40, false}} {
		err := write(c.token, c.balance)
		if c.fenced != errors.Is(err, lock.ErrFenced) || (!c.fenced && err != nil) {
			t.Fatalf("write with token %d: %v (fenced expected: %v)", c.token, err, c.fenced)
		}
	}
	var bal int
	var tok int64
	if err := conn.QueryRow(ctx, "SELECT balance, fence_token FROM accounts WHERE id = 1").Scan(&bal, &tok); err != nil {
		t.Fatal(err)
	}
	if bal != 40 || tok != 8 {
		t.Fatalf("row = balance %d token %d, want 40 and 8", bal, tok)
	}
}

func ExampleSQLFence() {
	f := lock.SQLFence{Table: "accounts"}
	fmt.Println(f.Update("balance = $2", "id = $3"))
	// With pgx: tag, err := conn.Exec(ctx, q, lease.Token(), balance, id)
	// then f.Result(lease.Token(), tag.RowsAffected(), err) is ErrFenced
	// when a newer holder has written the row.
	fmt.Println(errors.Is(f.Result(7, 0, nil), lock.ErrFenced))
	// Output:
	// UPDATE accounts SET balance = $2, fence_token = $1 WHERE (id = $3) AND fence_token <= $1
	// true
}

func ExampleFence() {
	var f lock.Fence
	fmt.Println(f.Do(2, func() error { fmt.Println("write with token 2"); return nil }))
	fmt.Println(errors.Is(f.Do(1, func() error { return nil }), lock.ErrFenced))
	// Output:
	// write with token 2
	// <nil>
	// true
}
