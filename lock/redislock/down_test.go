package redislock_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
)

// With Redis stopped, Acquire keeps retrying the transient dial error
// until its context ends, and then returns the context's error together
// with the last engine error: errors.Is works for both, so the caller sees
// why it waited (it used to see only "context deadline exceeded").
func TestAcquireWithRedisDownReportsEngineError(t *testing.T) {
	srv := testenv.NewRedis(t, nil)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	lk, err := lock.New(newDriver(t, c, nil), &lock.Options{Wait: lock.WaitPoll})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = lk.Acquire(ctx, "k", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Acquire = %v, want the engine's dial error (ECONNREFUSED) too", err)
	}
	// TryAcquire reports the engine error at once.
	if _, err := lk.TryAcquire(context.Background(), "k", nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("TryAcquire = %v, want ECONNREFUSED", err)
	}
}
