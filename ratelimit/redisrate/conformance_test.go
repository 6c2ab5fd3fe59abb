package redisrate_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/driver"
	"github.com/scalekit-go/scalekit/ratelimit/ratelimittest"
	"github.com/scalekit-go/scalekit/ratelimit/redisrate"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// harness builds every instance on its own client of one Redis, so that
// instances sharing a space share nothing but the server. The exact
// sub-tests pass a fake clock, which the driver sends to the scripts as the
// decision time (Options.Clock); RealTime passes the real clock, and the
// driver then uses the Redis server's TIME, as in production.
func harness(prefix string, newClient func(t *testing.T) redis.UniversalClient) ratelimittest.Harness {
	return ratelimittest.Harness{
		Resolution: time.Microsecond,
		New: func(t *testing.T, lim ratelimit.Limit, clk clock.Clock, space string) (driver.Limiter, error) {
			o := &redisrate.Options{Prefix: prefix + space + ":", Timeout: testTimeout}
			if f, ok := clk.(*clock.Fake); ok {
				// Fake time stands still while real time passes: keep
				// keys for the whole test (TestKeysExpire checks expiry).
				o.Clock, o.ExpirySlack = f, time.Hour
			}
			return redisrate.New(newClient(t), lim, o)
		},
	}
}

func TestConformance(t *testing.T) {
	url := testenv.RedisURL(t)
	ratelimittest.Run(t, harness(testenv.Prefix(t), func(t *testing.T) redis.UniversalClient {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}))
}
