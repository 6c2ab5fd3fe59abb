package redisqueue_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/queuetest"
	"github.com/scalekit-go/scalekit/queue/redisqueue"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// envCluster carries the cluster's node addresses to child processes.
const envCluster = "SCALEKIT_REDISQUEUE_CLUSTER"

func newDriver(t *testing.T, c redis.UniversalClient) *redisqueue.Driver {
	t.Helper()
	d, err := redisqueue.New(c, nil)
	if err != nil {
		t.Fatalf("redisqueue.New: %v", err)
	}
	return d
}

func clientFor(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func clusterClient(t *testing.T, addrs []string) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestConformance runs queuetest against the shared Redis server, with
// child processes (reaching it through SCALEKIT_REDIS_URL) for the
// SIGKILL test.
func TestConformance(t *testing.T) {
	if r := testenv.ChildRole(); r != "" && os.Getenv(envCluster) != "" {
		return // a child of the cluster test
	}
	url := testenv.RedisURL(t)
	queuetest.Run(t, queuetest.Harness{
		New:        func(t *testing.T) driver.Queue { return newDriver(t, clientFor(t, url)) },
		Visibility: 2 * time.Second, // 1s leases lapsed under -race on a loaded 2-core CI machine
		ChildEnv:   func(*testing.T) []string { return []string{testenv.EnvRedisURL + "=" + url} },
	})
}

// TestConformanceCluster runs queuetest against a three-master Redis
// Cluster through ClusterClients: the topics of the suite hash to
// different nodes, and every script must keep to one slot.
func TestConformanceCluster(t *testing.T) {
	var addrs []string
	if testenv.ChildRole() != "" {
		if os.Getenv(envCluster) == "" {
			return // a child of the standalone test
		}
		addrs = strings.Split(os.Getenv(envCluster), ",")
	} else {
		addrs = testenv.NewRedisCluster(t, 3).Addrs
	}
	queuetest.Run(t, queuetest.Harness{
		New:        func(t *testing.T) driver.Queue { return newDriver(t, clusterClient(t, addrs)) },
		Visibility: 2 * time.Second,
		ChildEnv:   func(*testing.T) []string { return []string{envCluster + "=" + strings.Join(addrs, ",")} },
	})
}
