package redislock_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/locktest"
	"github.com/scalekit-go/scalekit/lock/redislock"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// redisFor returns a client of url, closed when t ends.
func redisFor(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestConformance runs locktest against a dedicated durable Redis (AOF,
// fsync always), with restarts, child processes and the paused-holder
// fence test. Child processes reach the same server through
// SCALEKIT_REDIS_URL.
func TestConformance(t *testing.T) {
	var url string
	var srv *testenv.Server
	if testenv.ChildRole() == "" {
		srv = testenv.NewRedis(t, &testenv.RedisOptions{Durable: true})
		url = srv.URL
	} else {
		url = testenv.RedisURL(t)
	}
	opts := &redislock.Options{Prefix: "locktest:"}
	h := locktest.Harness{
		New: func(t *testing.T) driver.Locker { return newDriver(t, redisFor(t, url), opts) },
		TTL: time.Second, // renewals must keep up on a loaded machine
		DropKey: func(t *testing.T, k string) {
			if err := redisFor(t, url).Del(context.Background(), newDriver(t, redisFor(t, url), opts).LeaseKey(k)).Err(); err != nil {
				t.Fatal(err)
			}
		},
		ChildEnv: func(*testing.T) []string { return []string{testenv.EnvRedisURL + "=" + url} },
		Resource: func(t *testing.T, name string) locktest.Resource {
			return newFence(t, redisFor(t, url), "locktest:fenced:"+name)
		},
		TokensSurviveRestart: true,
	}
	if srv != nil {
		h.Restart = func(t *testing.T) { srv.Restart(t) }
	}
	locktest.Run(t, h)
}

// TestConformanceCluster runs locktest on a one-node Redis Cluster through
// a ClusterClient: the lease and its counter must share a hash slot.
func TestConformanceCluster(t *testing.T) {
	addr := testenv.NewRedis(t, &testenv.RedisOptions{Cluster: true}).Addr
	opts := &redislock.Options{Prefix: "locktest:"}
	cluster := func(t *testing.T) *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	locktest.Run(t, locktest.Harness{
		New: func(t *testing.T) driver.Locker { return newDriver(t, cluster(t), opts) },
		TTL: time.Second, // renewals must keep up on a loaded machine
		DropKey: func(t *testing.T, k string) {
			if err := cluster(t).Del(context.Background(), newDriver(t, cluster(t), opts).LeaseKey(k)).Err(); err != nil {
				t.Fatal(err)
			}
		},
	})
}
