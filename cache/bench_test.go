package cache_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/sketch"
)

// BenchmarkGetOrLoadHitParallel measures the Cache front's overhead on a
// hit over the in-process store (2^15 entries, parallel readers).
func BenchmarkGetOrLoadHitParallel(b *testing.B) { benchHits(b, nil) }

// BenchmarkGetOrLoadHitBloomGuard adds a BloomGuard (every key present in
// the filter) in front of the same hits.
func BenchmarkGetOrLoadHitBloomGuard(b *testing.B) {
	f, _ := sketch.NewBloom(1<<16, 0.01)
	for i := range 1 << 15 {
		f.AddString(strconv.Itoa(i))
	}
	benchHits(b, &cache.Options[string, int]{Guard: cache.BloomGuard[string](f, nil)})
}

// BenchmarkGetOrLoadHitHotKeys adds hot-key counting (a top-100 TopK) to
// the same hits.
func BenchmarkGetOrLoadHitHotKeys(b *testing.B) {
	hot, _ := sketch.NewTopK(100, nil)
	benchHits(b, &cache.Options[string, int]{HotKeys: hot})
}

// BenchmarkGetOrLoadHitHotKeysSampled counts one read in 16.
func BenchmarkGetOrLoadHitHotKeysSampled(b *testing.B) {
	hot, _ := sketch.NewTopK(100, nil)
	benchHits(b, &cache.Options[string, int]{HotKeys: hot, HotKeysSample: 16})
}

func benchHits(b *testing.B, o *cache.Options[string, int]) {
	s, _ := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 1 << 16})
	c, _ := cache.NewLocal(s, o)
	defer c.Close(context.Background())
	keys := make([]string, 1<<15)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
		_ = c.Set(context.Background(), keys[i], i)
	}
	load := func(context.Context, string) (int, error) { panic("benchmark expects only hits") }
	var seed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7919))
		ctx := context.Background()
		for pb.Next() {
			_, _ = c.GetOrLoad(ctx, keys[i&(1<<15-1)], load)
			i++
		}
	})
}

// BenchmarkStampede: 1,000 goroutines miss one key at once; the metric
// loads/op must stay 1.
func BenchmarkStampede(b *testing.B) {
	var loads atomic.Int64
	for b.Loop() {
		s, _ := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 16})
		c, _ := cache.NewLocal(s, nil)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 1000 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _ = c.GetOrLoad(context.Background(), "hot", func(context.Context, string) (int, error) {
					loads.Add(1)
					return 1, nil
				})
			}()
		}
		close(start)
		wg.Wait()
		_ = c.Close(context.Background())
	}
	b.ReportMetric(float64(loads.Load())/float64(b.N), "loads/op")
}
