package lock_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/memlock"
)

// queued is a backend with a native wait queue (driver.Queuer), built on
// memlock's notifications for the test.
type queued struct {
	*memlock.Locker
	queueCalls atomic.Int32
}

func (q *queued) Acquire(ctx context.Context, req driver.Request) (int64, error) {
	q.queueCalls.Add(1)
	for {
		ready, stop, err := q.Notify(ctx, req.Key)
		if err != nil {
			return 0, err
		}
		tok, err := q.TryAcquire(ctx, req)
		if !errors.Is(err, driver.ErrLocked) {
			stop()
			return tok, err
		}
		select {
		case <-ready:
			stop()
		case <-ctx.Done():
			stop()
			return 0, ctx.Err()
		}
	}
}

var _ driver.Queuer = (*queued)(nil)

func TestAcquireUsesNativeQueue(t *testing.T) {
	ctx := context.Background()
	q := &queued{Locker: memlock.New(nil)}
	lk, err := lock.New(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	held, err := lk.Acquire(ctx, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.queueCalls.Load() != 1 {
		t.Fatalf("WaitAuto made %d queue calls, want 1", q.queueCalls.Load())
	}
	got := make(chan *lock.Lease)
	go func() {
		l, err := lk.Acquire(ctx, "k", nil)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	time.Sleep(20 * time.Millisecond)
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	next := <-got
	if next == nil || next.Token() <= held.Token() {
		t.Fatalf("queued waiter got %v after token %d", next, held.Token())
	}

	// A cancelled queued wait returns ctx.Err() unwrapped and leaves no claim.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := lk.Acquire(cctx, "k", nil); err != context.DeadlineExceeded {
		t.Fatalf("cancelled queued Acquire = %v, want context.DeadlineExceeded", err)
	}
	_ = next.Release(ctx)
	if l, err := lk.TryAcquire(ctx, "k", nil); err != nil {
		t.Fatalf("TryAcquire after the cancelled wait: %v", err)
	} else {
		_ = l.Release(ctx)
	}

	// WaitPoll bypasses the queue.
	before := q.queueCalls.Load()
	l, err := lk.Acquire(ctx, "k", &lock.AcquireOptions{Wait: lock.WaitPoll})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Release(ctx)
	if q.queueCalls.Load() != before {
		t.Fatal("WaitPoll used the backend's queue")
	}
}
