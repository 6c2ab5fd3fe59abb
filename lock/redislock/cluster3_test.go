package redislock_test

import (
	"context"
	"math"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/redislock"
)

// Keys and prefixes with braces must work on a real three-master Redis
// Cluster: the lease and its fencing counter are touched by one script
// and must share a slot. A prefix whose first hash tag is empty ("{}")
// would hash them apart, so New refuses it.
func TestHashTagsOnThreeMasterCluster(t *testing.T) {
	c := testenv.NewRedisCluster(t, 3).Client(t)
	ctx := context.Background()
	for _, prefix := range []string{"", "app:", "app{", "app}", "{app}:", "a}{b"} {
		d, err := redislock.New(c, &redislock.Options{Prefix: prefix})
		if err != nil {
			t.Fatalf("prefix %q: %v", prefix, err)
		}
		lk, err := lock.New(d, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"plain", "}k", "{", "{}", "a{b}c"} {
			l, err := lk.TryAcquire(ctx, key, nil)
			if err != nil {
				t.Fatalf("prefix %q key %q: TryAcquire: %v", prefix, key, err)
			}
			if err := l.Release(ctx); err != nil {
				t.Fatalf("prefix %q key %q: Release: %v", prefix, key, err)
			}
		}
	}
	for _, prefix := range []string{"{}", "lock{}:", "{}{x}"} {
		if _, err := redislock.New(c, &redislock.Options{Prefix: prefix}); err == nil {
			t.Errorf("prefix %q (empty hash tag) accepted", prefix)
		}
	}
}

// Nil clients are refused at construction, not by a panic on first use.
func TestNilClients(t *testing.T) {
	if _, err := redislock.New(nil, nil); err == nil {
		t.Error("New(nil) accepted")
	}
	if _, err := redislock.NewFence(nil, "k"); err == nil {
		t.Error("NewFence(nil) accepted")
	}
	if _, err := redislock.NewFence(testenv.RedisClient(t), ""); err == nil {
		t.Error("NewFence with an empty key accepted")
	}
}

// A NaN DriftFactor fails every comparison, so it used to pass validation
// and make every validity NaN-derived.
func TestRedlockRejectsNaNDrift(t *testing.T) {
	c := testenv.RedisClient(t)
	_, err := redislock.NewRedlock([]redis.UniversalClient{c}, &redislock.RedlockOptions{DriftFactor: math.NaN()})
	if err == nil {
		t.Fatal("DriftFactor NaN accepted")
	}
}

// newDriver is redislock.New that fails t on error.
func newDriver(t testing.TB, c redis.UniversalClient, o *redislock.Options) *redislock.Driver {
	t.Helper()
	d, err := redislock.New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newFence is redislock.NewFence that fails t on error.
func newFence(t testing.TB, c redis.UniversalClient, key string) *redislock.Fence {
	t.Helper()
	f, err := redislock.NewFence(c, key)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
