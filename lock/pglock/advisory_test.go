package pglock_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/pglock"
)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(bg, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(bg) })
	return c
}

// Two connections (two sessions) exclude each other on one key and not on
// another; unlocking lets the other in; unlocking a lock the session does
// not hold is ErrNotHeld; closing the connection releases its locks.
func TestSessionLocksExclude(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	c1, c2 := connect(t, url), connect(t, url)

	if err := pglock.LockSession(bg, c1, "orders:42"); err != nil {
		t.Fatal(err)
	}
	if ok, err := pglock.TryLockSession(bg, c2, "orders:42"); ok || err != nil {
		t.Fatalf("second session took a held lock: ok=%v err=%v", ok, err)
	}
	if ok, err := pglock.TryLockSession(bg, c2, "orders:43"); !ok || err != nil {
		t.Fatalf("another key: ok=%v err=%v", ok, err)
	}
	if err := pglock.UnlockSession(bg, c2, "orders:42"); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("unlock by a session that does not hold it = %v, want ErrNotHeld", err)
	}

	// A blocking lock on the second session waits for the unlock.
	got := make(chan error, 1)
	go func() { got <- pglock.LockSession(bg, c2, "orders:42") }()
	select {
	case err := <-got:
		t.Fatalf("LockSession returned while the lock was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := pglock.UnlockSession(bg, c1, "orders:42"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LockSession still waiting 5s after the unlock")
	}
	if ok, _ := pglock.TryLockSession(bg, c1, "orders:42"); ok {
		t.Fatal("first session took the lock the second holds")
	}
	// The same key from SQL written by hand is the same lock.
	var ok bool
	if err := c1.QueryRow(bg, "SELECT pg_try_advisory_lock(hashtextextended('orders:42', 0))").Scan(&ok); err != nil || ok {
		t.Fatalf("hand-written SQL took the held lock: ok=%v err=%v", ok, err)
	}
	// Closing the holder's connection releases its session locks.
	if err := c2.Close(bg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := pglock.TryLockSession(bg, c1, "orders:42")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lock not freed 5s after its session closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A transaction lock excludes other transactions and is released at
// commit (and at rollback), with no unlock call.
func TestTransactionLockReleasedAtCommit(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	c1, c2 := connect(t, url), connect(t, url)

	for _, end := range []string{"commit", "rollback"} {
		tx1, err := c1.Begin(bg)
		if err != nil {
			t.Fatal(err)
		}
		if err := pglock.LockXact(bg, tx1, "job"); err != nil {
			t.Fatal(err)
		}
		tx2, err := c2.Begin(bg)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := pglock.TryLockXact(bg, tx2, "job"); ok || err != nil {
			t.Fatalf("%s: second transaction took a held lock: ok=%v err=%v", end, ok, err)
		}
		if end == "commit" {
			err = tx1.Commit(bg)
		} else {
			err = tx1.Rollback(bg)
		}
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := pglock.TryLockXact(bg, tx2, "job"); !ok || err != nil {
			t.Fatalf("after %s: ok=%v err=%v, want the lock free", end, ok, err)
		}
		if err := tx2.Commit(bg); err != nil {
			t.Fatal(err)
		}
	}
}

// A wait for a transaction lock ends with ctx's error when ctx ends first.
func TestLockXactCancelled(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	c1, c2 := connect(t, url), connect(t, url)
	tx1, err := c1.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx1.Rollback(bg) }()
	if err := pglock.LockXact(bg, tx1, "k"); err != nil {
		t.Fatal(err)
	}
	tx2, err := c2.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx2.Rollback(bg) }()
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	if err := pglock.LockXact(ctx, tx2, "k"); err != context.DeadlineExceeded {
		t.Fatalf("LockXact on a held key with a 100ms deadline = %v, want context.DeadlineExceeded unwrapped", err)
	}
}

// WithSessionLock gives mutual exclusion to goroutines sharing a pool, and
// returns the connection to the pool without the lock.
func TestWithSessionLock(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	p, err := pgxpool.New(bg, url)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var inside, maxInside, runs atomic.Int32
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				err := pglock.WithSessionLock(bg, p, "critical", func(ctx context.Context, conn *pgxpool.Conn) error {
					n := inside.Add(1)
					if n > maxInside.Load() {
						maxInside.Store(n)
					}
					time.Sleep(time.Millisecond)
					inside.Add(-1)
					runs.Add(1)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 || runs.Load() != 30 {
		t.Fatalf("max %d inside at once over %d runs, want 1 over 30", maxInside.Load(), runs.Load())
	}
	// fn's error comes back, and the lock is released all the same.
	boom := errors.New("boom")
	if err := pglock.WithSessionLock(bg, p, "critical", func(context.Context, *pgxpool.Conn) error { return boom }); err != boom {
		t.Fatalf("WithSessionLock = %v, want fn's error", err)
	}
	c := connect(t, url)
	if ok, err := pglock.TryLockSession(bg, c, "critical"); !ok || err != nil {
		t.Fatalf("lock left behind: ok=%v err=%v", ok, err)
	}
}

func TestAdvisoryBadInput(t *testing.T) {
	t.Parallel()
	c := connect(t, testenv.PostgresURL(t))
	if err := pglock.LockSession(bg, c, ""); err == nil {
		t.Error("empty key accepted")
	}
	if _, err := pglock.TryLockXact(bg, c, "a\x00b"); err == nil {
		t.Error("key with NUL accepted")
	}
	if err := pglock.LockXact(bg, nil, "k"); err == nil {
		t.Error("nil connection accepted")
	}
	if err := pglock.WithSessionLock(bg, nil, "k", func(context.Context, *pgxpool.Conn) error { return nil }); err == nil {
		t.Error("nil pool accepted")
	}
}
