package memrate_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
)

var benchAlgs = []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.TokenBucket, ratelimit.LeakyBucket,
	ratelimit.FixedWindow, ratelimit.SlidingWindow, ratelimit.SlidingLog}

func benchLimiter(b *testing.B, alg ratelimit.Algorithm) *ratelimit.Limiter {
	lim := ratelimit.Limit{Algorithm: alg, Rate: 1000, Period: time.Second}
	if alg.Bucket() {
		lim.Burst = 100
	}
	l, err := memrate.New(lim, nil)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkAllow is one goroutine deciding for one key through the
// ratelimit.Limiter on the real clock (target ≤ 150 ns, 0 allocs).
func BenchmarkAllow(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg.String(), func(b *testing.B) {
			l := benchLimiter(b, alg)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Allow(ctx, "user:42", 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAllowParallel is every core deciding for 4,096 keys: the
// throughput of one shared limiter.
func BenchmarkAllowParallel(b *testing.B) {
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	for _, alg := range benchAlgs {
		b.Run(alg.String(), func(b *testing.B) {
			l := benchLimiter(b, alg)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := l.Allow(ctx, keys[i&4095], 1); err != nil {
						b.Error(err)
						return
					}
					i += 7
				}
			})
		})
	}
}

// BenchmarkBaselineXTimeRate is the same-run baseline: one
// golang.org/x/time/rate.Limiter (no keys, no Decision) admitting on the
// real clock. Compare BenchmarkAllow against it, not against absolute
// numbers from another machine or moment.
func BenchmarkBaselineXTimeRate(b *testing.B) {
	l := rate.NewLimiter(1000, 100)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow()
	}
}
