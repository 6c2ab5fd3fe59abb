package sketch_test

import (
	"encoding/binary"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/scalekit-go/scalekit/sketch"
)

// benchKeys are 2^16 distinct 16-byte keys, built once, so the benchmarks
// measure the sketches and not key formatting.
var benchKeys = func() [][]byte {
	keys := make([][]byte, 1<<16)
	for i := range keys {
		k := make([]byte, 16)
		binary.LittleEndian.PutUint64(k, splitmix64(uint64(i)))
		binary.LittleEndian.PutUint64(k[8:], uint64(i))
		keys[i] = k
	}
	return keys
}()

var benchStrings = func() []string {
	s := make([]string, len(benchKeys))
	for i := range s {
		s[i] = "user:" + strconv.Itoa(i)
	}
	return s
}()

func BenchmarkBloomAdd(b *testing.B) {
	f, _ := sketch.NewBloom(1_000_000, 0.01)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.Add(benchKeys[i&(len(benchKeys)-1)])
		i++
	}
}

func BenchmarkBloomTest(b *testing.B) {
	f, _ := sketch.NewBloom(1_000_000, 0.01)
	for _, k := range benchKeys[:len(benchKeys)/2] {
		f.Add(k)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.Test(benchKeys[i&(len(benchKeys)-1)]) // half present, half absent
		i++
	}
}

// BenchmarkBloomTestParallel shows readers sharing the read lock.
func BenchmarkBloomTestParallel(b *testing.B) {
	f, _ := sketch.NewBloom(1_000_000, 0.01)
	for _, k := range benchKeys[:len(benchKeys)/2] {
		f.Add(k)
	}
	b.ReportAllocs()
	var seed atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		i := seed.Add(1) * 7919
		for pb.Next() {
			f.Test(benchKeys[i&uint64(len(benchKeys)-1)])
			i++
		}
	})
}

func BenchmarkHyperLogLogAdd(b *testing.B) {
	var h sketch.HyperLogLog
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Add(benchKeys[i&(len(benchKeys)-1)])
		i++
	}
}

func BenchmarkHyperLogLogAddHash(b *testing.B) {
	var h sketch.HyperLogLog
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		h.AddHash(splitmix64(i))
		i++
	}
}

// BenchmarkHyperLogLogCount counts a dense sketch of 10^6 keys that has
// not changed since the last Count (the cached estimate).
func BenchmarkHyperLogLogCount(b *testing.B) {
	var h sketch.HyperLogLog
	for i := range uint64(1_000_000) {
		h.AddHash(splitmix64(i))
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Count()
	}
}

// BenchmarkHyperLogLogAddCount adds a key and counts, so every Count
// reads all 2^14 registers of a dense sketch.
func BenchmarkHyperLogLogAddCount(b *testing.B) {
	var h sketch.HyperLogLog
	for i := range uint64(1_000_000) {
		h.AddHash(splitmix64(i))
	}
	b.ReportAllocs()
	i := uint64(1 << 40)
	for b.Loop() {
		h.AddHash(splitmix64(i))
		h.Count()
		i++
	}
}

func BenchmarkCountMinAdd(b *testing.B) {
	c, _ := sketch.NewCountMin(0.0001, 0.01)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Add(benchKeys[i&(len(benchKeys)-1)], 1)
		i++
	}
}

func BenchmarkCountMinCount(b *testing.B) {
	c, _ := sketch.NewCountMin(0.0001, 0.01)
	for _, k := range benchKeys {
		c.Add(k, 3)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Count(benchKeys[i&(len(benchKeys)-1)])
		i++
	}
}

// BenchmarkCountMinCountParallel shows lock-free reads.
func BenchmarkCountMinCountParallel(b *testing.B) {
	c, _ := sketch.NewCountMin(0.0001, 0.01)
	for _, k := range benchKeys {
		c.Add(k, 3)
	}
	b.ReportAllocs()
	var seed atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		i := seed.Add(1) * 7919
		for pb.Next() {
			c.Count(benchKeys[i&uint64(len(benchKeys)-1)])
			i++
		}
	})
}

// BenchmarkTopKAdd feeds a Zipf(1.1) stream to a top-100 tracker, as a
// cache's hot-key detector would see it.
func BenchmarkTopKAdd(b *testing.B) {
	stream, _ := zipfStream(3, 1.1, len(benchStrings), 1<<16)
	t, _ := sketch.NewTopK(100, nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t.Add(stream[i&(len(stream)-1)])
		i++
	}
}
