package rediscache_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/cache/cachetest"
	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

func TestConformanceCluster(t *testing.T) {
	addr := testenv.NewRedis(t, &testenv.RedisOptions{Cluster: true}).Addr
	newClient := func(t *testing.T) redis.UniversalClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	channels := map[driver.Store]string{}
	cachetest.Run(t, cachetest.Harness{
		NewStore: func(t *testing.T) driver.Store {
			ch := testenv.Prefix(t) + "invalidate"
			s := newStore(t, newClient(t), ch)
			channels[s] = ch
			return s
		},
		Peer: func(t *testing.T, s driver.Store) driver.Store {
			return newStore(t, newClient(t), channels[s])
		},
		TooLarge: make([]byte, 64<<10+1),
	})
}
