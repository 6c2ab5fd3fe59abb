package redislock_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/locktest"
	"github.com/scalekit-go/scalekit/lock/redislock"
)

func benchWorkers(b *testing.B, d driver.Locker) {
	for _, w := range []struct {
		name string
		n    int
	}{{"workers=1", 1}, {"workers=8", 8}} {
		b.Run(w.name, func(b *testing.B) {
			lk, err := lock.New(d, nil)
			if err != nil {
				b.Fatal(err)
			}
			locktest.BenchPairs(b, lk, w.n)
		})
	}
}

// BenchmarkAcquireRelease: TryAcquire+Release on one Redis over loopback,
// 2 round trips per pair (the acquire script, the release script).
func BenchmarkAcquireRelease(b *testing.B) {
	c := testenv.RedisClient(b)
	benchWorkers(b, newDriver(b, c, &redislock.Options{Prefix: testenv.Prefix(b)}))
}

// BenchmarkRedlockAcquireRelease: the same over Redlock on 3 servers: 2
// rounds per pair, each sent to the 3 servers in parallel (6 round trips).
func BenchmarkRedlockAcquireRelease(b *testing.B) {
	var cs []redis.UniversalClient
	for i := 0; i < 3; i++ {
		cs = append(cs, testenv.NewRedis(b, nil).Client(b))
	}
	r, err := redislock.NewRedlock(cs, nil)
	if err != nil {
		b.Fatal(err)
	}
	benchWorkers(b, r)
}
