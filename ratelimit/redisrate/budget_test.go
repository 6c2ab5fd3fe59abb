package redisrate_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/redisrate"
)

// An outage costs at most the per-decision budget (Options.Timeout), not
// go-redis's retries and socket timeouts: with 100ms client timeouts and
// the default MaxRetries, a decision against a stopped Redis took 1.7s
// (the pool's dial retries), and against a paused one a full ReadTimeout
// (go-redis ignores context deadlines on socket reads by default).
func TestOutageCostsOneBudgetPerDecision(t *testing.T) {
	const budget = 30 * time.Millisecond
	const slack = 400 * time.Millisecond // scheduling on a loaded test machine
	for _, fault := range []string{"paused", "stopped"} {
		t.Run(fault, func(t *testing.T) {
			ctx := context.Background()
			srv := testenv.NewRedis(t, nil)
			// Default MaxRetries; socket timeouts longer than budget+slack,
			// so that only the budget can keep a decision short.
			c := redis.NewClient(&redis.Options{Addr: srv.Addr,
				DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
			t.Cleanup(func() { _ = c.Close() })
			lim := ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 10, Period: time.Second, Burst: 10}
			l, err := wrapWith(&ratelimit.Options{Failure: ratelimit.FailOpen})(
				redisrate.New(c, lim, &redisrate.Options{Prefix: testenv.Prefix(t), Timeout: budget}))
			if err != nil {
				t.Fatal(err)
			}
			if d, err := l.Allow(ctx, "k", 1); err != nil || !d.Allowed {
				t.Fatalf("Allow with Redis up = %+v, %v", d, err)
			}
			if fault == "paused" {
				srv.Pause(t)
				t.Cleanup(func() { srv.Resume(t) })
			} else {
				srv.Stop(t)
			}
			var worst time.Duration
			for range 5 {
				start := time.Now()
				d, err := l.Allow(ctx, "k", 1)
				worst = max(worst, time.Since(start))
				if err != nil || !d.Allowed {
					t.Fatalf("FailOpen decision during the outage = %+v, %v", d, err)
				}
			}
			if worst > budget+slack {
				t.Fatalf("a decision with Redis %s took %v; the budget is %v", fault, worst, budget)
			}
			t.Logf("Redis %s: slowest decision %v (budget %v)", fault, worst, budget)
		})
	}
}

// testTimeout is the decision budget of tests about correctness, not
// latency: generous, for a loaded machine under -race.
const testTimeout = 10 * time.Second

// wrap is ratelimit.New over the driver redisrate.New returned, so that a
// test reads l, err := wrap(redisrate.New(...)).
func wrap(d *redisrate.Driver, err error) (*ratelimit.Limiter, error) {
	return wrapWith(nil)(d, err)
}

// wrapWith is wrap with Limiter options.
func wrapWith(o *ratelimit.Options) func(*redisrate.Driver, error) (*ratelimit.Limiter, error) {
	return func(d *redisrate.Driver, err error) (*ratelimit.Limiter, error) {
		if err != nil {
			return nil, err
		}
		return ratelimit.New(d, o)
	}
}
