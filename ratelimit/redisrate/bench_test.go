package redisrate_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/redisrate"
)

// trivial is the baseline: a script that does nothing, sent with the same
// key and arguments as a decision, so the comparison isolates what the
// algorithm's script costs on top of one EVALSHA round trip.
var trivial = redis.NewScript("return 1")

// floor is the least any server-clock GCRA script must do: read the clock,
// read the key, write it with an expiry, return a decision; with constant
// arguments and no arithmetic. It shows how much of the gap to the bare
// EVALSHA is the three commands themselves.
var floor = redis.NewScript(`local t = redis.call('TIME')
local g = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], '1750000000123456', 'PX', '1000')
return {1, 2, 3, 4, 5}`)

// BenchmarkGCRAVsBareEvalSha alternates blocks of 1,000 GCRA decisions and
// 1,000 EVALSHA calls of a trivial script on the same Redis, from `conns`
// goroutines, and reports both costs and the GCRA throughput as a
// percentage of the bare EVALSHA's (target ≥ 90%), with the same for the
// floor script (TIME, GET, SET PX only). Alternating blocks keeps
// the two measurements side by side on a noisy machine.
func BenchmarkGCRAVsBareEvalSha(b *testing.B) {
	ctx := context.Background()
	c := testenv.RedisClient(b)
	lim := ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 1_000_000, Period: time.Second, Burst: 1_000_000}
	d, err := redisrate.New(c, lim, &redisrate.Options{Prefix: testenv.Prefix(b), Timeout: testTimeout})
	if err != nil {
		b.Fatal(err)
	}
	l, err := ratelimit.New(d, nil)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	args := []any{1, -1, lim.Rate, lim.Period.Microseconds(), lim.Burst, 1, 0}
	gcraCall := func(i int) error { _, err := l.Allow(ctx, keys[i&1023], 1); return err }
	bareCall := func(i int) error {
		return trivial.Run(ctx, c, []string{d.Key(keys[i&1023])}, args...).Err()
	}
	floorCall := func(i int) error {
		return floor.Run(ctx, c, []string{d.Key("floor:" + keys[i&1023])}, args...).Err()
	}
	if err := gcraCall(0); err != nil {
		b.Fatal(err)
	}
	if err := bareCall(0); err != nil {
		b.Fatal(err)
	}
	if err := floorCall(0); err != nil {
		b.Fatal(err)
	}
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			block := func(fn func(int) error, n int) time.Duration {
				var wg sync.WaitGroup
				start := time.Now()
				for g := 0; g < conns; g++ {
					wg.Add(1)
					go func(g int) {
						defer wg.Done()
						for i := g; i < n; i += conns {
							if err := fn(i); err != nil {
								b.Error(err)
								return
							}
						}
					}(g)
				}
				wg.Wait()
				return time.Since(start)
			}
			var tGCRA, tBare, tFloor time.Duration
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(1000, b.N-done)
				tBare += block(bareCall, n)
				tGCRA += block(gcraCall, n)
				tFloor += block(floorCall, n)
				done += n
			}
			b.ReportMetric(float64(tGCRA)/float64(b.N), "ns/gcra")
			b.ReportMetric(float64(tBare)/float64(b.N), "ns/evalsha")
			b.ReportMetric(100*float64(tBare)/float64(tGCRA), "%evalsha")
			b.ReportMetric(100*float64(tBare)/float64(tFloor), "floor-%evalsha")
		})
	}
}

// BenchmarkAllow is the cost of one decision per algorithm from 8
// goroutines over 1,024 keys.
func BenchmarkAllow(b *testing.B) {
	ctx := context.Background()
	c := testenv.RedisClient(b)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	for _, alg := range []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.TokenBucket, ratelimit.LeakyBucket,
		ratelimit.FixedWindow, ratelimit.SlidingWindow, ratelimit.SlidingLog} {
		b.Run(alg.String(), func(b *testing.B) {
			lim := ratelimit.Limit{Algorithm: alg, Rate: 100, Period: time.Second}
			if alg.Bucket() {
				lim.Burst = 100
			}
			l, err := wrap(redisrate.New(c, lim, &redisrate.Options{Prefix: testenv.Prefix(b), Timeout: testTimeout}))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := l.Allow(ctx, keys[i&1023], 1); err != nil {
						b.Error(err)
						return
					}
					i += 7
				}
			})
		})
	}
}
