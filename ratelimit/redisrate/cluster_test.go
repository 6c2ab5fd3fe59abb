package redisrate_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/ratelimittest"
)

// The distributed algorithms pass the conformance suite through a
// ClusterClient.
func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster conformance runs without -short")
	}
	addr := testenv.NewRedis(t, &testenv.RedisOptions{Cluster: true}).Addr
	h := harness(testenv.Prefix(t), func(t *testing.T) redis.UniversalClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
		t.Cleanup(func() { _ = c.Close() })
		return c
	})
	h.Algorithms = []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.SlidingWindow, ratelimit.SlidingLog}
	h.Steps = 1000
	ratelimittest.Run(t, h)
}
