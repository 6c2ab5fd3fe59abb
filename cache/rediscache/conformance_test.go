package rediscache_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/cache/cachetest"
	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/rediscache"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newStore(t *testing.T, c redis.UniversalClient, channel string) *rediscache.Store {
	t.Helper()
	s, err := rediscache.New(c, &rediscache.Options{Channel: channel, MaxValueSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	channels := map[driver.Store]string{}
	cachetest.Run(t, cachetest.Harness{
		NewStore: func(t *testing.T) driver.Store {
			ch := testenv.Prefix(t) + "invalidate"
			s := newStore(t, testenv.RedisClient(t), ch)
			channels[s] = ch
			return s
		},
		// A second client on the same server, as another process has.
		Peer: func(t *testing.T, s driver.Store) driver.Store {
			opt, err := redis.ParseURL(testenv.RedisURL(t))
			if err != nil {
				t.Fatal(err)
			}
			c := redis.NewClient(opt)
			t.Cleanup(func() { _ = c.Close() })
			return newStore(t, c, channels[s])
		},
		TooLarge: make([]byte, 64<<10+1),
	})
}
