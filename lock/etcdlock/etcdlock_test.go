package etcdlock_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/etcdlock"
)

func req(key, owner string) driver.Request {
	return driver.Request{Key: key, Owner: owner, TTL: 5 * time.Second, Meta: "meta-" + owner}
}

// members counts the holder and waiters of key.
func members(t *testing.T, cli *clientv3.Client, d *etcdlock.Driver, key string) int64 {
	t.Helper()
	resp, err := cli.Get(bg, d.Dir(key), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

func waitMembers(t *testing.T, cli *clientv3.Client, d *etcdlock.Driver, key string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for members(t, cli, d, key) != n {
		if time.Now().After(deadline) {
			t.Fatalf("key %q has %d members, want %d", key, members(t, cli, d, key), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The driver contract, call by call: two drivers on their own clients
// stand for two processes.
func TestDriverContract(t *testing.T) {
	eps, prefix := testenv.EtcdEndpoints(t), testenv.Prefix(t)+"/"
	a, b := newDriver(t, eps, prefix), newDriver(t, eps, prefix)

	tok1, err := a.TryAcquire(bg, req("k/with/slashes", "A"))
	if err != nil || tok1 <= 0 {
		t.Fatalf("TryAcquire of a free key = %d, %v", tok1, err)
	}
	if _, err := b.TryAcquire(bg, req("k/with/slashes", "B")); !errors.Is(err, driver.ErrLocked) {
		t.Fatalf("TryAcquire of a held key = %v, want ErrLocked", err)
	}
	// "k/with" is another lock, not a parent directory of the first.
	if _, err := b.TryAcquire(bg, req("k/with", "B")); err != nil {
		t.Fatalf("TryAcquire of a key that is a path prefix of a held one: %v", err)
	}
	if tok, err := a.TryAcquire(bg, req("k/with/slashes", "A")); err != nil || tok != tok1 {
		t.Fatalf("retried TryAcquire by the holder = %d, %v; want its token %d", tok, err, tok1)
	}
	h, held, err := b.Holder(bg, "k/with/slashes")
	if err != nil || !held || h.Owner != "A" || h.Meta != "meta-A" || h.Token != tok1 || h.TTL <= 0 || h.TTL > 5*time.Second {
		t.Fatalf("Holder = %+v, %v, %v", h, held, err)
	}
	if err := b.Renew(bg, "k/with/slashes", "B", 5*time.Second); !errors.Is(err, driver.ErrNotHeld) {
		t.Errorf("Renew by a non-holder = %v, want ErrNotHeld", err)
	}
	if err := b.Release(bg, "k/with/slashes", "B"); !errors.Is(err, driver.ErrNotHeld) {
		t.Errorf("Release by a non-holder = %v, want ErrNotHeld", err)
	}
	if err := a.Renew(bg, "k/with/slashes", "A", 5*time.Second); err != nil {
		t.Fatalf("Renew by the holder: %v", err)
	}
	if err := a.Release(bg, "k/with/slashes", "A"); err != nil {
		t.Fatalf("Release by the holder: %v", err)
	}
	if err := a.Release(bg, "k/with/slashes", "A"); !errors.Is(err, driver.ErrNotHeld) {
		t.Errorf("second Release = %v, want ErrNotHeld", err)
	}
	if _, held, err := a.Holder(bg, "k/with/slashes"); held || err != nil {
		t.Errorf("Holder after Release: held=%v err=%v", held, err)
	}
	tok2, err := b.TryAcquire(bg, req("k/with/slashes", "B"))
	if err != nil || tok2 <= tok1 {
		t.Fatalf("TryAcquire after release = %d, %v; want a token above %d", tok2, err, tok1)
	}
	// Renewing a lease that etcd no longer has is ErrNotHeld.
	cli := client(t, eps)
	if _, err := cli.Delete(bg, b.Dir("k/with/slashes"), clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if err := b.Renew(bg, "k/with/slashes", "B", 5*time.Second); !errors.Is(err, driver.ErrNotHeld) {
		t.Errorf("Renew after the key was deleted = %v, want ErrNotHeld", err)
	}
}

// Waiters get the lock in the order they arrived; a waiter that gives up
// leaves the queue without disturbing the order of the others; each holder
// gets a larger token than the one before.
func TestFIFO(t *testing.T) {
	eps, prefix := testenv.EtcdEndpoints(t), testenv.Prefix(t)+"/"
	admin := client(t, eps)
	ad := newDriver(t, eps, prefix)
	newLocker := func() *lock.Locker {
		lk, err := lock.New(newDriver(t, eps, prefix), &lock.Options{TTL: 5 * time.Second, Wait: lock.WaitNative})
		if err != nil {
			t.Fatal(err)
		}
		return lk
	}
	const key, n = "fifo", 6
	holder, err := newLocker().TryAcquire(bg, key, nil)
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		i     int
		token int64
	}
	var (
		mu    sync.Mutex
		order []result
		wg    sync.WaitGroup
	)
	cancels := make([]context.CancelFunc, n)
	errs := make([]error, n)
	for i := range n {
		lk := newLocker()
		ctx, cancel := context.WithCancel(bg)
		cancels[i] = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := lk.Acquire(ctx, key, nil)
			if err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			order = append(order, result{i, l.Token()})
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			if err := l.Release(bg); err != nil {
				errs[i] = err
			}
		}()
		waitMembers(t, admin, ad, key, int64(i+2)) // joined before the next one starts
	}
	// Waiter 2 gives up; waiter 3 now follows waiter 1.
	cancels[2]()
	waitMembers(t, admin, ad, key, n)
	if err := holder.Release(bg); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, c := range cancels {
		c()
	}
	if !errors.Is(errs[2], context.Canceled) {
		t.Errorf("cancelled waiter returned %v, want context.Canceled", errs[2])
	}
	want := []int{0, 1, 3, 4, 5}
	if len(order) != len(want) {
		t.Fatalf("order %v, want waiters %v", order, want)
	}
	last := holder.Token()
	for j, r := range order {
		if r.i != want[j] {
			t.Fatalf("order %v, want waiters %v (arrival order)", order, want)
		}
		if r.token <= last {
			t.Fatalf("waiter %d got token %d after %d", r.i, r.token, last)
		}
		last = r.token
	}
	for i, err := range errs {
		if i != 2 && err != nil {
			t.Errorf("waiter %d: %v", i, err)
		}
	}
	if m := members(t, admin, ad, key); m != 0 {
		t.Errorf("%d members left behind", m)
	}
}

// A cancelled Acquire removes its member key and revokes its lease.
func TestCancelRemovesWaiter(t *testing.T) {
	eps, prefix := testenv.EtcdEndpoints(t), testenv.Prefix(t)+"/"
	admin := client(t, eps)
	a, b := newDriver(t, eps, prefix), newDriver(t, eps, prefix)
	if _, err := a.TryAcquire(bg, req("k", "A")); err != nil {
		t.Fatal(err)
	}
	leasesBefore, err := admin.Leases(bg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	errc := make(chan error, 1)
	go func() {
		_, err := b.Acquire(ctx, req("k", "B"))
		errc <- err
	}()
	waitMembers(t, admin, a, "k", 2)
	cancel()
	select {
	case err := <-errc:
		if err != context.Canceled {
			t.Fatalf("cancelled Acquire = %v, want context.Canceled unwrapped", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire did not return 10s after its context was cancelled")
	}
	if m := members(t, admin, a, "k"); m != 1 {
		t.Fatalf("%d members after the cancelled wait, want the holder alone", m)
	}
	leasesAfter, err := admin.Leases(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(leasesAfter.Leases) != len(leasesBefore.Leases) {
		t.Errorf("%d leases after the cancelled wait, %d before: the waiter's lease was left behind", len(leasesAfter.Leases), len(leasesBefore.Leases))
	}
	if err := a.Release(bg, "k", "A"); err != nil {
		t.Fatal(err)
	}
	if _, held, _ := a.Holder(bg, "k"); held {
		t.Error("the cancelled waiter holds the key")
	}
}

// A waiter whose client dies (as its process would) cannot clean up; its
// lease expires and the waiter behind it gets the lock.
func TestDeadWaiterLeavesByExpiry(t *testing.T) {
	eps, prefix := testenv.EtcdEndpoints(t), testenv.Prefix(t)+"/"
	admin := client(t, eps)
	a, c := newDriver(t, eps, prefix), newDriver(t, eps, prefix)
	deadCli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	dead, _ := etcdlock.New(deadCli, &etcdlock.Options{Prefix: prefix})
	if _, err := a.TryAcquire(bg, req("k", "A")); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = dead.Acquire(bg, driver.Request{Key: "k", Owner: "dead", TTL: time.Second}) }()
	waitMembers(t, admin, a, "k", 2)
	got := make(chan error, 1)
	go func() {
		_, err := c.Acquire(bg, req("k", "C"))
		got <- err
	}()
	waitMembers(t, admin, a, "k", 3)
	_ = deadCli.Close()
	if err := a.Release(bg, "k", "A"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the waiter behind a dead one did not get the lock within 15s")
	}
	if h, _, _ := c.Holder(bg, "k"); h.Owner != "C" {
		t.Fatalf("holder %q, want C", h.Owner)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := etcdlock.New(nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	d := newDriver(t, testenv.EtcdEndpoints(t), testenv.Prefix(t)+"/")
	lk, err := lock.New(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lk.TryAcquire(bg, strings.Repeat("x", etcdlock.MaxKeyLen+1), nil); !errors.Is(err, lock.ErrInvalidKey) {
		t.Errorf("key over MaxKeyLen = %v, want ErrInvalidKey", err)
	}
	if _, err := lk.TryAcquire(bg, "k", &lock.AcquireOptions{TTL: 500 * time.Millisecond}); !errors.Is(err, lock.ErrInvalidTTL) {
		t.Errorf("TTL below etcd's 1s = %v, want ErrInvalidTTL", err)
	}
	l, err := lk.TryAcquire(bg, strings.Repeat("x", etcdlock.MaxKeyLen), nil)
	if err != nil {
		t.Fatalf("key of MaxKeyLen bytes: %v", err)
	}
	_ = l.Release(bg)
}

func TestIsRetryable(t *testing.T) {
	d := newDriver(t, testenv.EtcdEndpoints(t), "x/")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), false},
		{rpctypes.ErrNoLeader, true},
		{rpctypes.ErrLeaderChanged, true},
		{rpctypes.ErrTimeout, true},
		{rpctypes.ErrTooManyRequests, true},
		{status.Error(codes.Unavailable, "connection refused"), true},
		{rpctypes.ErrLeaseNotFound, false},
		{rpctypes.ErrPermissionDenied, false},
		{errors.New("something else"), false},
	} {
		if got := d.IsRetryable(c.err); got != c.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// A release wakes only the next waiter: the waiters further back send no
// request at all (each watches its own predecessor, not the holder).
func TestNoThunderingHerd(t *testing.T) {
	eps, prefix := testenv.EtcdEndpoints(t), testenv.Prefix(t)+"/"
	admin := client(t, eps)
	ad := newDriver(t, eps, prefix)
	holder := newDriver(t, eps, prefix)
	if _, err := holder.TryAcquire(bg, req("k", "H")); err != nil {
		t.Fatal(err)
	}
	const n = 4
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	calls := make([]*atomic.Int64, n)
	acquired := make(chan int, n)
	for i := range n {
		d, c := countingDriver(t, eps, prefix)
		calls[i] = c
		go func() {
			if _, err := d.Acquire(ctx, req("k", fmt.Sprint("W", i))); err == nil {
				acquired <- i
			}
		}()
		waitMembers(t, admin, ad, "k", int64(i+2))
	}
	time.Sleep(100 * time.Millisecond) // let every waiter settle on its watch
	before := make([]int64, n)
	for i, c := range calls {
		before[i] = c.Load()
	}
	if err := holder.Release(bg, "k", "H"); err != nil {
		t.Fatal(err)
	}
	select {
	case i := <-acquired:
		if i != 0 {
			t.Fatalf("waiter %d got the lock first, want waiter 0", i)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no waiter got the lock within 10s of the release")
	}
	time.Sleep(200 * time.Millisecond) // a herd would show up here
	for i := 1; i < n; i++ {
		if d := calls[i].Load() - before[i]; d != 0 {
			t.Errorf("waiter %d sent %d requests after a release that was not its turn", i, d)
		}
	}
	if d := calls[0].Load() - before[0]; d == 0 {
		t.Error("the next waiter sent no request, yet got the lock")
	}
}
