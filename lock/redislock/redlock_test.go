package redislock_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/locktest"
	"github.com/scalekit-go/scalekit/lock/redislock"
)

// envRedlockAddrs passes the servers' addresses to child processes.
const envRedlockAddrs = "SCALEKIT_TEST_REDLOCK_ADDRS"

// redlockOn returns a function that opens a Redlock over new clients of
// the servers at addrs.
func redlockOn(addrs []string) func(t *testing.T) *redislock.Redlock {
	return func(t *testing.T) *redislock.Redlock {
		cs := make([]redis.UniversalClient, len(addrs))
		for i, a := range addrs {
			cs[i] = redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
			c := cs[i]
			t.Cleanup(func() { _ = c.Close() })
		}
		r, err := redislock.NewRedlock(cs, &redislock.RedlockOptions{
			Options:     redislock.Options{Prefix: "locktest:"},
			NodeTimeout: 300 * time.Millisecond, // generous: the test machine is shared and often overloaded
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// redlockOver starts n dedicated Redis servers and returns them with a
// function that opens a Redlock over new clients of all of them.
func redlockOver(t *testing.T, n int, durable bool) ([]*testenv.Server, func(t *testing.T) *redislock.Redlock) {
	t.Helper()
	srvs := make([]*testenv.Server, n)
	addrs := make([]string, n)
	for i := range srvs {
		srvs[i] = testenv.NewRedis(t, &testenv.RedisOptions{Durable: durable})
		addrs[i] = srvs[i].Addr
	}
	return srvs, redlockOn(addrs)
}

// TestRedlockConformance runs locktest over three servers, with child
// processes (which reach the parent's servers through envRedlockAddrs)
// and the paused-holder test, fenced by a value on the first server.
func TestRedlockConformance(t *testing.T) {
	var addrs []string
	var srvs []*testenv.Server
	switch testenv.ChildRole() {
	case "":
		srvs, _ = redlockOver(t, 3, false)
		for _, s := range srvs {
			addrs = append(addrs, s.Addr)
		}
	default:
		addrs = strings.Split(os.Getenv(envRedlockAddrs), ",")
		if len(addrs) != 3 {
			return // a child of another test
		}
	}
	open := redlockOn(addrs)
	fenceOn := func(t *testing.T) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addrs[0]})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	locktest.Run(t, locktest.Harness{
		New: func(t *testing.T) driver.Locker { return open(t) },
		TTL: time.Second, // renewals must keep up on a loaded machine
		DropKey: func(t *testing.T, k string) {
			lk := newDriver(t, srvs[0].Client(t), &redislock.Options{Prefix: "locktest:"}).LeaseKey(k)
			for _, s := range srvs {
				if err := s.Client(t).Del(context.Background(), lk).Err(); err != nil {
					t.Fatal(err)
				}
			}
		},
		ChildEnv: func(*testing.T) []string { return []string{envRedlockAddrs + "=" + strings.Join(addrs, ",")} },
		Resource: func(t *testing.T, name string) locktest.Resource {
			return newFence(t, fenceOn(t), "locktest:fenced:"+name)
		},
	})
}

func TestRedlockSurvivesMinorityAndFailsCleanlyWithout(t *testing.T) {
	ctx := context.Background()
	srvs, open := redlockOver(t, 3, true) // killed servers come back with their counters
	r := open(t)
	if r.Quorum() != 2 {
		t.Fatalf("Quorum of 3 = %d", r.Quorum())
	}
	lk, err := lock.New(r, &lock.Options{TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l1, err := lk.TryAcquire(ctx, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}

	srvs[0].Kill(t)
	l2, err := lk.TryAcquire(ctx, "k", nil)
	if err != nil {
		t.Fatalf("TryAcquire with one of three servers down: %v", err)
	}
	if l2.Token() <= l1.Token() {
		t.Fatalf("token %d after %d", l2.Token(), l1.Token())
	}
	if _, err := lk.TryAcquire(ctx, "k", nil); !errors.Is(err, lock.ErrLocked) {
		t.Fatalf("second holder with one server down = %v, want ErrLocked", err)
	}
	time.Sleep(2 * time.Second) // two TTLs: renewals must keep it on the two live servers
	if l2.Err() != nil {
		t.Fatalf("lease lost with a majority up: %v", l2.Err())
	}
	h, held, err := lk.Holder(ctx, "k")
	if err != nil || !held || h.Owner != l2.Owner() || h.Token != l2.Token() {
		t.Fatalf("Holder = %+v %v %v, want owner %s token %d", h, held, err, l2.Owner(), l2.Token())
	}

	srvs[1].Kill(t)
	start := time.Now()
	_, err = lk.TryAcquire(ctx, "other", nil)
	if !errors.Is(err, redislock.ErrNoQuorum) || errors.Is(err, lock.ErrLocked) {
		t.Fatalf("TryAcquire with two of three servers down = %v, want ErrNoQuorum", err)
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := lk.Acquire(actx, "other", nil); !errors.Is(err, redislock.ErrNoQuorum) {
		t.Fatalf("Acquire with two of three servers down = %v, want ErrNoQuorum at once", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("failing without a quorum took %v", d)
	}
	select {
	case <-l2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the lease did not end after its majority was lost")
	}
	if err := l2.Err(); !errors.Is(err, lock.ErrLeaseLost) {
		t.Fatalf("Err() after losing the majority = %v, want ErrLeaseLost", err)
	}

	srvs[0].Start(t)
	srvs[1].Start(t)
	var l3 *lock.Lease
	deadline := time.Now().Add(5 * time.Second)
	for l3 == nil {
		if l3, err = lk.TryAcquire(ctx, "k", nil); err != nil && time.Now().After(deadline) {
			t.Fatalf("TryAcquire after the servers came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if l3.Token() <= l2.Token() {
		t.Fatalf("token %d after %d (the servers' counters are durable)", l3.Token(), l2.Token())
	}
	_ = l3.Release(ctx)
}

func TestNewRedlockBadInput(t *testing.T) {
	if _, err := redislock.NewRedlock(nil, nil); err == nil {
		t.Error("NewRedlock with no servers succeeded")
	}
	if _, err := redislock.NewRedlock([]redis.UniversalClient{nil}, nil); err == nil {
		t.Error("NewRedlock with a nil client succeeded")
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := redislock.NewRedlock([]redis.UniversalClient{c}, &redislock.RedlockOptions{DriftFactor: 0.7}); err == nil {
		t.Error("NewRedlock with DriftFactor 0.7 succeeded")
	}
}
