package pglock_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
)

// fence builds the protected write: it changes the row only if the
// writer's token is not older than the one the row was last written with.
var fence = lock.SQLFence{Table: "accounts"}

// writeBalance is the fenced UPDATE of account 1.
func writeBalance(ctx context.Context, db *pgxpool.Pool, token, balance int64) error {
	tag, err := db.Exec(ctx, fence.Update("balance = $2", "id = 1"), token, balance)
	return fence.Result(token, tag.RowsAffected(), err)
}

const (
	rolePausedHolder = "pglock-paused-holder"
	envFenceKey      = "SCALEKIT_PGLOCK_FENCE_KEY"
)

// A holder process is stopped with SIGSTOP past its TTL. Meanwhile another
// holder takes the lock (with a larger token) and writes. The stopped
// process resumes, still believing it holds the lock, and writes with its
// old token: the fenced UPDATE (lock.SQLFence) matches no row, so the stale
// write is rejected with ErrFenced instead of overwriting the newer one.
func TestPausedHolderIsFenced(t *testing.T) {
	if testenv.ChildRole() == rolePausedHolder {
		pausedHolder(t)
		return
	}
	url := testenv.PostgresURL(t)
	p := pool(t, url)
	if _, err := p.Exec(bg, "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, fence_token bigint NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(bg, "INSERT INTO accounts VALUES (1, 100, 0)"); err != nil {
		t.Fatal(err)
	}
	const key = "account:1"
	cmd := testenv.Child(t, "TestPausedHolderIsFenced", rolePausedHolder, envURL+"="+url, envFenceKey+"="+key)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	testenv.StartChild(t, cmd)
	lines := bufio.NewScanner(stdout)
	expect := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), prefix); ok {
				return rest
			}
		}
		t.Fatalf("child ended without printing %q\nstderr:\n%s", prefix, stderr.String())
		return ""
	}
	oldToken, err := strconv.ParseInt(expect("token "), 10, 64)
	if err != nil {
		t.Fatal(err)
	}

	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}()

	// The stopped holder cannot renew: its lease runs out and we get in.
	lk, err := lock.New(open(t, url, nil), &lock.Options{TTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var l *lock.Lease
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err = lk.TryAcquire(bg, key, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock of a stopped holder not free after 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer func() { _ = l.Release(bg) }()
	if l.Token() <= oldToken {
		t.Fatalf("new token %d not above the stopped holder's %d", l.Token(), oldToken)
	}
	if err := writeBalance(bg, p, l.Token(), 200); err != nil {
		t.Fatalf("the new holder's fenced write: %v", err)
	}

	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	if _, err := io.WriteString(stdin, "write\n"); err != nil {
		t.Fatal(err)
	}
	if got := expect("result "); got != "fenced" {
		t.Fatalf("the resumed holder's write with stale token %d: %s, want it fenced", oldToken, got)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	var balance, token int64
	if err := p.QueryRow(bg, "SELECT balance, fence_token FROM accounts WHERE id = 1").Scan(&balance, &token); err != nil {
		t.Fatal(err)
	}
	if balance != 200 || token != l.Token() {
		t.Fatalf("row = balance %d token %d, want the new holder's 200 with token %d", balance, token, l.Token())
	}
}

// pausedHolder is the child: it takes the lock with background renewal,
// reports its token, and when told to (after being stopped and resumed)
// writes with that token without looking at Done, as a careless holder
// would.
func pausedHolder(t *testing.T) {
	url := os.Getenv(envURL)
	lk, err := lock.New(open(t, url, nil), &lock.Options{TTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	l, err := lk.Acquire(ctx, os.Getenv(envFenceKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("token %d\n", l.Token())
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() {
		t.Fatal("no go-ahead from the parent")
	}
	switch err := writeBalance(ctx, pool(t, url), l.Token(), 50); {
	case errors.Is(err, lock.ErrFenced):
		fmt.Println("result fenced")
	case err != nil:
		fmt.Printf("result error %v\n", err)
	default:
		fmt.Println("result accepted")
	}
}
