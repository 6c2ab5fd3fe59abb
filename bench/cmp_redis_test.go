package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bsm "github.com/bsm/redislock"
	"github.com/go-redis/redis_rate/v10"
	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/redislock"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/redisrate"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// workers runs fn(worker, i) b.N times in total over w goroutines, each on
// its own key space, and reports ops/s.
func workers(b *testing.B, w int, fn func(worker, i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, w)
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				if err := fn(g, i); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// BenchmarkCmpRedisLock: acquire + release on the same Redis, 1 and 8
// workers, each worker on its own keys (no contention: the cost of the
// protocol itself).
func BenchmarkCmpRedisLock(b *testing.B) {
	rc := testenv.RedisClient(b)
	ctx := context.Background()
	for _, w := range []int{1, 8} {
		b.Run("workers="+strconv.Itoa(w), func(b *testing.B) {
			b.Run("scalekit", func(b *testing.B) {
				d, err := redislock.New(rc, &redislock.Options{Prefix: testenv.Prefix(b)})
				if err != nil {
					b.Fatal(err)
				}
				lk, err := lock.New(d, nil)
				if err != nil {
					b.Fatal(err)
				}
				opts := &lock.AcquireOptions{TTL: 10 * time.Second, NoRenew: true}
				workers(b, w, func(g, i int) error {
					l, err := lk.TryAcquire(ctx, "k"+strconv.Itoa(g), opts)
					if err != nil {
						return err
					}
					return l.Release(ctx)
				})
			})
			b.Run("bsm-redislock", func(b *testing.B) {
				c := bsm.New(rc)
				p := testenv.Prefix(b)
				workers(b, w, func(g, i int) error {
					l, err := c.Obtain(ctx, p+"k"+strconv.Itoa(g), 10*time.Second, nil)
					if err != nil {
						return err
					}
					return l.Release(ctx)
				})
			})
			b.Run("redsync", func(b *testing.B) {
				rs := redsync.New(goredis.NewPool(rc))
				p := testenv.Prefix(b)
				mus := make([]*redsync.Mutex, w)
				for g := range mus {
					mus[g] = rs.NewMutex(p+"k"+strconv.Itoa(g), redsync.WithExpiry(10*time.Second), redsync.WithTries(1))
				}
				workers(b, w, func(g, i int) error {
					if err := mus[g].LockContext(ctx); err != nil {
						return err
					}
					_, err := mus[g].UnlockContext(ctx)
					return err
				})
			})
		})
	}
}

// BenchmarkCmpRedisRate: one GCRA decision per call on the same Redis,
// against go-redis/redis_rate and against the floor: a bare EVALSHA of
// "return 1" (one round trip and a script call, nothing else).
func BenchmarkCmpRedisRate(b *testing.B) {
	rc := testenv.RedisClient(b)
	ctx := context.Background()
	for _, w := range []int{1, 8} {
		b.Run("workers="+strconv.Itoa(w), func(b *testing.B) {
			b.Run("scalekit", func(b *testing.B) {
				d, err := redisrate.New(rc, ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 1_000_000, Period: time.Second, Burst: 1000},
					&redisrate.Options{Prefix: testenv.Prefix(b)})
				if err != nil {
					b.Fatal(err)
				}
				l, err := ratelimit.New(d, nil)
				if err != nil {
					b.Fatal(err)
				}
				workers(b, w, func(g, i int) error {
					_, err := l.Allow(ctx, "k"+strconv.Itoa(g), 1)
					return err
				})
			})
			b.Run("redis_rate", func(b *testing.B) {
				l := redis_rate.NewLimiter(rc)
				lim := redis_rate.Limit{Rate: 1_000_000, Period: time.Second, Burst: 1000}
				p := testenv.Prefix(b)
				workers(b, w, func(g, i int) error {
					_, err := l.Allow(ctx, p+"k"+strconv.Itoa(g), lim)
					return err
				})
			})
			b.Run("evalsha-return-1", func(b *testing.B) {
				s := redis.NewScript("return 1")
				workers(b, w, func(g, i int) error {
					return s.Run(ctx, rc, []string{"k" + strconv.Itoa(g)}).Err()
				})
			})
		})
	}
}
