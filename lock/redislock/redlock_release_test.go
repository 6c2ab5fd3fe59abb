package redislock_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/redislock"
)

// lateAcquireHook delays the lease-acquiring script on one server until
// that server has executed the release script (or a fallback timer fires),
// so the acquisition lands after the release: the interleaving in which
// Redlock used to leave a lease behind.
type lateAcquireHook struct {
	gate chan struct{}
	once sync.Once
}

func (h *lateAcquireHook) open() { h.once.Do(func() { close(h.gate) }) }

func (h *lateAcquireHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *lateAcquireHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *lateAcquireHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		script := strings.Join(strings.Fields(strings.ToLower(cmd.String())), " ")
		switch {
		case strings.Contains(script, "incr") && strings.Contains(script, "set"): // acquire (EVAL or EVALSHA body)
			<-h.gate
		case strings.Contains(script, "publish"): // release
			err := next(ctx, cmd)
			h.open()
			return err
		}
		return next(ctx, cmd)
	}
}

// Release must win against every acquire call still outstanding: a call
// to a slow server that lands after Release's delete must not leave a
// lease there.
func TestRedlockReleaseWinsAgainstLateAcquire(t *testing.T) {
	srvs := make([]*testenv.Server, 3)
	for i := range srvs {
		srvs[i] = testenv.NewRedis(t, nil)
	}
	hook := &lateAcquireHook{gate: make(chan struct{})}
	clients := make([]redis.UniversalClient, 3)
	for i, s := range srvs {
		c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		t.Cleanup(func() { _ = c.Close() })
		if i == 2 {
			c.AddHook(hook)
		}
		clients[i] = c
	}
	// NodeTimeout is long so that the slow call is still alive when it
	// is let through; the fallback timer opens the gate if Release waits.
	r, err := redislock.NewRedlock(clients, &redislock.RedlockOptions{NodeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(300*time.Millisecond, hook.open)
	defer timer.Stop()
	ctx := context.Background()
	req := driver.Request{Key: "k", Owner: "me", TTL: 10 * time.Second}
	if _, err := r.TryAcquire(ctx, req); err != nil {
		t.Fatal(err) // servers 0 and 1 made the majority; server 2's call waits
	}
	if err := r.Release(ctx, "k", "me"); err != nil {
		t.Fatal(err)
	}
	// Every server must be free now, including the slow one (its call
	// has landed by the time Release returns, or will be undone).
	deadline := time.Now().Add(2 * time.Second)
	for i, s := range srvs {
		raw := redis.NewClient(&redis.Options{Addr: s.Addr})
		defer raw.Close()
		lk := newDriver(t, raw, nil).LeaseKey("k")
		for {
			n, err := raw.Exists(ctx, lk).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				pttl, _ := raw.PTTL(ctx, lk).Result()
				t.Fatalf("server %d still holds a lease after Release (PTTL %v)", i, pttl)
			}
			time.Sleep(10 * time.Millisecond) // poll with a deadline
		}
	}
}
