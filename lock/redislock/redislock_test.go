package redislock_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/redislock"
)

// A crash (SIGKILL) of a durable Redis keeps the fencing counters: the
// next holder's token is larger than every token handed out before.
func TestTokensSurviveCrash(t *testing.T) {
	ctx := context.Background()
	srv := testenv.NewRedis(t, &testenv.RedisOptions{Durable: true})
	lk, err := lock.New(newDriver(t, srv.Client(t), nil), &lock.Options{TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for i := 0; i < 3; i++ {
		l, err := lk.TryAcquire(ctx, "crash", nil)
		if err != nil {
			t.Fatal(err)
		}
		last = l.Token()
		_ = l.Release(ctx)
	}
	srv.Kill(t)
	srv.Start(t)
	var l *lock.Lease
	deadline := time.Now().Add(10 * time.Second)
	for l == nil {
		if l, err = lk.TryAcquire(ctx, "crash", nil); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("TryAcquire after the crash: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if l.Token() <= last {
		t.Fatalf("token after the crash %d, want > %d", l.Token(), last)
	}
	_ = l.Release(ctx)
}

// Keys with braces of their own must not split the lease and its counter
// across Cluster slots.
func TestBracedKeysOnCluster(t *testing.T) {
	ctx := context.Background()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{testenv.NewRedis(t, &testenv.RedisOptions{Cluster: true}).Addr}})
	defer c.Close()
	d := newDriver(t, c, nil)
	for _, k := range []string{"}x", "a{b}c", "{", "plain"} {
		lk, fk := d.LeaseKey(k), d.FenceKey(k)
		tag := func(s string) string {
			i := strings.IndexByte(s, '{')
			j := strings.IndexByte(s[i+1:], '}')
			return s[i+1 : i+1+j]
		}
		if tag(lk) == "" || tag(lk) != tag(fk) {
			t.Errorf("key %q: lease %q and counter %q have different hash tags", k, lk, fk)
		}
		tok, err := d.TryAcquire(ctx, driver.Request{Key: k, Owner: "o", TTL: time.Second})
		if err != nil || tok != 1 {
			t.Errorf("TryAcquire(%q) on a cluster = %d, %v", k, tok, err)
		}
		if err := d.Release(ctx, k, "o"); err != nil {
			t.Errorf("Release(%q): %v", k, err)
		}
	}
}

func TestDriverDetails(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t, testenv.RedisClient(t), &redislock.Options{Prefix: testenv.Prefix(t), MaxKeyLen: 64})
	if d.Limits().MaxKeyLen != 64 {
		t.Fatalf("Limits = %+v", d.Limits())
	}
	if _, err := d.TryAcquire(ctx, driver.Request{Key: "k", Owner: "bad\nowner", TTL: time.Second}); err == nil {
		t.Fatal("owner with a newline accepted")
	}
	if _, err := d.TryAcquire(ctx, driver.Request{Key: "k", Owner: "o", TTL: time.Second, Meta: "host a\nb"}); err != nil {
		t.Fatal(err)
	}
	h, held, err := d.Holder(ctx, "k")
	if err != nil || !held || h.Owner != "o" || h.Meta != "host a\nb" || h.Token != 1 || h.TTL <= 0 || h.TTL > time.Second {
		t.Fatalf("Holder = %+v %v %v", h, held, err)
	}
	if d.IsRetryable(driver.ErrLocked) || d.IsRetryable(errors.New("ERR syntax")) || d.IsRetryable(redis.ErrClosed) {
		t.Fatal("permanent errors reported retryable")
	}
	if !d.IsRetryable(context.DeadlineExceeded) {
		t.Fatal("a timeout is retryable")
	}
	bad := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer bad.Close()
	_, err = newDriver(t, bad, nil).TryAcquire(ctx, driver.Request{Key: "k", Owner: "o", TTL: time.Second})
	if err == nil || !d.IsRetryable(err) {
		t.Fatalf("connection refused = %v, want a retryable error", err)
	}
}

// A waiter is woken by the release's pub/sub message, long before its
// backoff (1 minute here) would let it poll again.
func TestReleaseWakesWaiter(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t, testenv.RedisClient(t), &redislock.Options{Prefix: testenv.Prefix(t)})
	lk, err := lock.New(d, &lock.Options{PollInitial: time.Minute, PollMax: time.Minute, Wait: lock.WaitNative})
	if err != nil {
		t.Fatal(err)
	}
	held, err := lk.TryAcquire(ctx, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := lk.Acquire(ctx, "k", nil)
		if err == nil {
			err = l.Release(ctx)
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the waiter subscribe and park
	start := time.Now()
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("waiter woke %v after the release", time.Since(start))
	case <-time.After(5 * time.Second): // a poll would come after up to a minute
		t.Fatal("waiter not woken by the release")
	}
	// The notify connection is closed once nobody waits: Notify and stop
	// leave nothing behind.
	ready, stop, err := d.Notify(ctx, "k2")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop()
	select {
	case <-ready:
		t.Fatal("notified without a release")
	default:
	}
}

// The Notifier contract: a release after Notify returned is never missed,
// even with no failed acquisition in between and the release made by
// another Driver (another process). And a release nobody waits for does
// not PUBLISH (the waiters mark is absent).
func TestNotifyThenReleaseWakes(t *testing.T) {
	ctx := context.Background()
	srv := testenv.NewRedis(t, nil)
	rc := srv.Client(t)
	holder := newDriver(t, rc, nil)
	waiter := newDriver(t, srv.Client(t), nil)
	req := driver.Request{Key: "k", Owner: "h", TTL: time.Minute}
	// Uncontended: acquire and release publish nothing.
	for i := 0; i < 3; i++ {
		if _, err := holder.TryAcquire(ctx, req); err != nil {
			t.Fatal(err)
		}
		if err := holder.Release(ctx, "k", "h"); err != nil {
			t.Fatal(err)
		}
	}
	if st := rc.Info(ctx, "commandstats").Val(); strings.Contains(st, "cmdstat_publish:") {
		t.Fatalf("an uncontended release published:\n%s", st)
	}
	if _, err := holder.TryAcquire(ctx, req); err != nil {
		t.Fatal(err)
	}
	ready, stop, err := waiter.Notify(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := holder.Release(ctx, "k", "h"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("release after Notify did not wake the waiter")
	}
	// The release removed the mark with the lease.
	if n := rc.Exists(ctx, holder.LeaseKey("k")+":w", holder.LeaseKey("k")).Val(); n != 0 {
		t.Fatalf("%d of lease and waiters mark left after release", n)
	}
}
