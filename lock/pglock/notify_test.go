package pglock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/pglock"
)

func ready(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitReady(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not ready within 5s", what)
	}
}

// A release by another driver (another pool, as another process would have)
// wakes the subscribers of that key and of no other.
func TestNotifyOnRelease(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	a, b := open(t, url, nil), open(t, url, nil)
	if _, err := a.TryAcquire(bg, req("k", "A", time.Minute)); err != nil {
		t.Fatal(err)
	}
	ch, stop, err := b.Notify(bg, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	other, stopOther, err := b.Notify(bg, "other")
	if err != nil {
		t.Fatal(err)
	}
	defer stopOther()
	if ready(ch) {
		t.Fatal("ready before any release")
	}
	// A refused release announces nothing.
	if err := a.Release(bg, "k", "B"); err == nil {
		t.Fatal("release by a non-holder succeeded")
	}
	if err := a.Release(bg, "k", "A"); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ch, "subscriber of the released key")
	time.Sleep(50 * time.Millisecond) // give a wrong wake-up time to arrive
	if ready(other) {
		t.Error("subscriber of another key was woken")
	}
	stop() // after the wake-up: harmless
}

// With notifications, a waiting Acquire gets the key right after the
// release even when its polling interval is far longer than the test.
func TestAcquireWakesOnRelease(t *testing.T) {
	url := testenv.PostgresURL(t)
	holder, err := lock.New(open(t, url, nil), &lock.Options{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	waiter, err := lock.New(open(t, url, nil), &lock.Options{TTL: time.Minute, PollInitial: time.Minute, PollMax: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	l, err := holder.TryAcquire(bg, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *lock.Lease, 1)
	go func() {
		l2, err := waiter.Acquire(bg, "k", nil)
		if err != nil {
			t.Error(err)
		}
		got <- l2
	}()
	// Wait until the waiter has tried once and is parked.
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(20 * time.Millisecond)
		var n int
		if err := pool(t, url).QueryRow(bg, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("waiter never listened")
		}
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if err := l.Release(bg); err != nil {
		t.Fatal(err)
	}
	select {
	case l2 := <-got:
		if l2 == nil {
			return
		}
		if l2.Token() <= l.Token() {
			t.Errorf("waiter's token %d not above %d", l2.Token(), l.Token())
		}
		t.Logf("waiter got the key %v after the release", time.Since(start))
		_ = l2.Release(bg)
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not woken by the release (polling interval is 1m)")
	}
}

// Notify needs a pool to take its listening connection from; with another
// DB it fails and package lock polls.
func TestNotifyNeedsPool(t *testing.T) {
	t.Parallel()
	conn, err := pgx.Connect(bg, testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	d, err := pglock.Open(bg, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Notify(bg, "k"); err == nil {
		t.Fatal("Notify on a single connection succeeded")
	}
	if _, _, err := d.Notify(bg, ""); err == nil {
		t.Fatal("Notify with an empty key succeeded")
	}
}

// Close and the idle timeout end the listening connection and wake its
// subscribers (a spurious wake-up is allowed); a later Notify listens again.
func TestNotifyCloseAndIdle(t *testing.T) {
	url := testenv.PostgresURL(t)
	d := open(t, url, &pglock.Options{ListenIdle: 100 * time.Millisecond})
	ch, stop, err := d.Notify(bg, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ch, "subscriber after Close")
	stop()

	listeners := func() int {
		var n int
		if err := pool(t, url).QueryRow(bg, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ch, stop, err = d.Notify(bg, "k")
	if err != nil {
		t.Fatal(err)
	}
	if n := listeners(); n != 1 {
		t.Fatalf("%d listening connections, want 1", n)
	}
	time.Sleep(300 * time.Millisecond) // longer than ListenIdle: a subscriber keeps it open
	if ready(ch) {
		t.Fatal("listener closed while it had a subscriber")
	}
	stop()
	deadline := time.Now().Add(5 * time.Second)
	for listeners() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("listening connection still open 5s after its last subscriber left")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And it comes back for the next subscriber, and works.
	ch, stop, err = d.Notify(bg, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := d.TryAcquire(bg, req("k", "A", time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(bg, "k", "A"); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ch, "subscriber of a re-opened listener")
}

// A cancelled context makes Notify fail with ctx's error when it has to
// connect.
func TestNotifyCancelled(t *testing.T) {
	t.Parallel()
	d := open(t, testenv.PostgresURL(t), nil)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, _, err := d.Notify(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Notify with a cancelled context = %v", err)
	}
}
