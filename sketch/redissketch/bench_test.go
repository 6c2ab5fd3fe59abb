package redissketch_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/scalekit-go/scalekit/internal/testenv"
)

// The Redis benchmarks measure one round trip to a local redis-server:
// network and script time dominate.

func BenchmarkBloomAdd(b *testing.B) {
	f := newBloom(b, testenv.RedisClient(b), testenv.Prefix(b), "bench", 1_000_000, 0.01)
	ctx := context.Background()
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		if err := f.Add(ctx, keyOf(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkBloomTest(b *testing.B) {
	f := newBloom(b, testenv.RedisClient(b), testenv.Prefix(b), "bench", 1_000_000, 0.01)
	ctx := context.Background()
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		if _, err := f.Test(ctx, keyOf(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkBloomAddMany adds 1,000 keys per round trip; ns/op is per key.
func BenchmarkBloomAddMany(b *testing.B) {
	f := newBloom(b, testenv.RedisClient(b), testenv.Prefix(b), "bench", 1_000_000, 0.01)
	ctx := context.Background()
	keys := batch(0, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.AddMany(ctx, keys); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/key")
}

func BenchmarkHyperLogLogAdd(b *testing.B) {
	h := newHLL(b, testenv.RedisClient(b), testenv.Prefix(b), "bench")
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := h.Add(ctx, "u"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkHyperLogLogCount(b *testing.B) {
	h := newHLL(b, testenv.RedisClient(b), testenv.Prefix(b), "bench")
	ctx := context.Background()
	addRange(b, h, 0, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Count(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
