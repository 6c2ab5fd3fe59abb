package redisrate_test

import (
	"context"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/redisrate"
)

// At 600,000 per second the emission interval is 5/3 µs, not a whole
// number of microseconds. GCRA and the leaky bucket must still admit
// exactly 600,000 per second: 3 units every 5 µs once the burst is spent
// (rounding the interval up to 2 µs admitted only 500,000 per second).
func TestExactRateNotWholeMicroseconds(t *testing.T) {
	for _, alg := range []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.LeakyBucket} {
		t.Run(alg.String(), func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewFake(time.Unix(1_800_000_000, 0))
			lim := ratelimit.Limit{Algorithm: alg, Rate: 600_000, Period: time.Second, Burst: 10}
			l, err := wrap(redisrate.New(testenv.RedisClient(t), lim, &redisrate.Options{Prefix: testenv.Prefix(t), Clock: clk, ExpirySlack: time.Hour, Timeout: testTimeout}))
			if err != nil {
				t.Fatal(err)
			}
			admit := func() int {
				n := 0
				for {
					d, err := l.Allow(ctx, "k", 1)
					if err != nil {
						t.Fatal(err)
					}
					if !d.Allowed {
						return n
					}
					n++
				}
			}
			if n := admit(); n != 10 {
				t.Fatalf("burst admitted %d, want 10", n)
			}
			total := 0
			const steps = 60
			for range steps {
				clk.Advance(5 * time.Microsecond)
				total += admit()
			}
			if want := 3 * steps; total != want {
				t.Fatalf("admitted %d in %d µs after the burst, want exactly %d (600k/s)", total, 5*steps, want)
			}
		})
	}
}
