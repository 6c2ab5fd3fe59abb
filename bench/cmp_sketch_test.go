package bench

import (
	"strconv"
	"testing"

	axhll "github.com/axiomhq/hyperloglog"
	bbloom "github.com/bits-and-blooms/bloom/v3"

	"github.com/scalekit-go/scalekit/sketch"
)

func sketchKeys() [][]byte {
	keys := make([][]byte, 1<<14)
	for i := range keys {
		keys[i] = []byte("user:" + strconv.Itoa(i))
	}
	return keys
}

// BenchmarkCmpBloomAddTest: Add then Test of one key, 1M capacity, 1% FP.
func BenchmarkCmpBloomAddTest(b *testing.B) {
	keys := sketchKeys()
	b.Run("scalekit", func(b *testing.B) {
		f, err := sketch.NewBloom(1_000_000, 0.01)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := keys[i&(len(keys)-1)]
			f.Add(k)
			if !f.Test(k) {
				b.Fatal("false negative")
			}
			i++
		}
	})
	b.Run("bits-and-blooms", func(b *testing.B) {
		f := bbloom.NewWithEstimates(1_000_000, 0.01)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := keys[i&(len(keys)-1)]
			f.Add(k)
			if !f.Test(k) {
				b.Fatal("false negative")
			}
			i++
		}
	})
}

// BenchmarkCmpHyperLogLogInsert: inserts at precision 14.
func BenchmarkCmpHyperLogLogInsert(b *testing.B) {
	keys := sketchKeys()
	b.Run("scalekit", func(b *testing.B) {
		h, err := sketch.NewHyperLogLog(14)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h.Add(keys[i&(len(keys)-1)])
			i++
		}
	})
	b.Run("axiomhq", func(b *testing.B) {
		h := axhll.New14()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h.Insert(keys[i&(len(keys)-1)])
			i++
		}
	})
}
