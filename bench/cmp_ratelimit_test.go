package bench

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	uberrl "go.uber.org/ratelimit"
	"golang.org/x/time/rate"

	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
)

// generous never rejects at benchmark speed, so both sides take the
// admit path every time.
var generous = ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 1_000_000_000, Period: time.Second, Burst: 1_000_000}

func newMemrate(b *testing.B) *ratelimit.Limiter {
	l, err := memrate.New(generous, nil)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkCmpAllowOneKey: one key, one goroutine.
func BenchmarkCmpAllowOneKey(b *testing.B) {
	ctx := context.Background()
	b.Run("scalekit", func(b *testing.B) {
		l := newMemrate(b)
		b.ReportAllocs()
		for b.Loop() {
			if d, err := l.Allow(ctx, "k", 1); err != nil || !d.Allowed {
				b.Fatal(d, err)
			}
		}
	})
	b.Run("x-time-rate", func(b *testing.B) {
		l := rate.NewLimiter(rate.Limit(generous.Rate), generous.Burst)
		b.ReportAllocs()
		for b.Loop() {
			if !l.Allow() {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("uber-ratelimit", func(b *testing.B) {
		l := uberrl.New(generous.Rate, uberrl.WithoutSlack)
		b.ReportAllocs()
		for b.Loop() {
			l.Take()
		}
	})
}

// BenchmarkCmpAllow10kKeys: 10,000 keys, one goroutine, against the usual
// hand-rolled keyed limiter: a sync.Map of x/time/rate limiters.
func BenchmarkCmpAllow10kKeys(b *testing.B) {
	ctx := context.Background()
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	b.Run("scalekit", func(b *testing.B) {
		l := newMemrate(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if d, err := l.Allow(ctx, keys[i%len(keys)], 1); err != nil || !d.Allowed {
				b.Fatal(d, err)
			}
			i++
		}
	})
	b.Run("x-time-rate-syncmap", func(b *testing.B) {
		var m sync.Map
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := keys[i%len(keys)]
			v, ok := m.Load(k)
			if !ok {
				v, _ = m.LoadOrStore(k, rate.NewLimiter(rate.Limit(generous.Rate), generous.Burst))
			}
			if !v.(*rate.Limiter).Allow() {
				b.Fatal("rejected")
			}
			i++
		}
	})
}
