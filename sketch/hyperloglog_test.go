package sketch_test

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"

	"github.com/scalekit-go/scalekit/sketch"
)

// splitmix64 turns a counter into a well-mixed 64-bit value: a cheap
// stand-in for hashing ten million distinct keys.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// checkRelErr fails when est is more than 3 standard errors from n.
func checkRelErr(t *testing.T, what string, est, n uint64, stdErr float64) {
	t.Helper()
	rel := (float64(est) - float64(n)) / float64(n)
	t.Logf("%s: n=%d estimate=%d relative error %+.4f (3σ = %.4f)", what, n, est, rel, 3*stdErr)
	if math.Abs(rel) > 3*stdErr {
		t.Errorf("%s: estimate %d of %d off by %.4f, more than 3 standard errors (%.4f)", what, est, n, rel, 3*stdErr)
	}
}

// TestHyperLogLogErrorBound adds distinct keys by hash, in batches, and
// checks the estimate at every power of ten: from 10^3 to 10^7 at the
// default precision, to 10^6 at precision 12.
func TestHyperLogLogErrorBound(t *testing.T) {
	for _, tc := range []struct {
		p   uint8
		max uint64
	}{{sketch.DefaultPrecision, 10_000_000}, {12, 1_000_000}} {
		t.Run(fmt.Sprintf("p=%d", tc.p), func(t *testing.T) {
			h, err := sketch.NewHyperLogLog(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			batch := make([]uint64, 0, 1000)
			added := uint64(0)
			for next := uint64(1000); next <= tc.max; next *= 10 {
				for added < next {
					batch = batch[:0]
					for range min(cap(batch), int(next-added)) {
						added++
						batch = append(batch, splitmix64(uint64(tc.p)<<56|added))
					}
					h.AddHashes(batch)
				}
				checkRelErr(t, "AddHashes", h.Count(), added, h.StdError())
			}
		})
	}
}

// TestHyperLogLogStringKeys goes through Add's own hashing.
func TestHyperLogLogStringKeys(t *testing.T) {
	h, _ := sketch.NewHyperLogLog(0)
	for i := range 200_000 {
		h.AddString("user-" + strconv.Itoa(i))
		h.AddString("user-" + strconv.Itoa(i/2)) // duplicates do not count
	}
	checkRelErr(t, "AddString", h.Count(), 200_000, h.StdError())
}

func TestHyperLogLogMergeAcrossInstances(t *testing.T) {
	// Three "instances" see overlapping user sets; the merged count is the
	// size of the union.
	var parts []*sketch.HyperLogLog
	for inst := range 3 {
		h, _ := sketch.NewHyperLogLog(0)
		for i := inst * 50_000; i < inst*50_000+100_000; i++ {
			h.AddHash(splitmix64(uint64(i)))
		}
		data, err := h.MarshalBinary() // shipped to a reporter
		if err != nil {
			t.Fatal(err)
		}
		var got sketch.HyperLogLog
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		if got.Count() != h.Count() {
			t.Fatalf("decoded count %d != %d", got.Count(), h.Count())
		}
		parts = append(parts, &got)
	}
	var union sketch.HyperLogLog // zero value works
	for _, p := range parts {
		if err := union.Merge(p); err != nil {
			t.Fatal(err)
		}
	}
	checkRelErr(t, "union", union.Count(), 200_000, union.StdError())

	p12, _ := sketch.NewHyperLogLog(12)
	p12.AddString("x")
	// A zero value takes the precision of the first sketch merged into it.
	var fresh sketch.HyperLogLog
	if err := fresh.Merge(p12); err != nil || fresh.Precision() != 12 || fresh.Count() != 1 {
		t.Fatalf("zero value merging precision 12: %v, precision %d, count %d", err, fresh.Precision(), fresh.Count())
	}
	p12.AddString("y")
	if fresh.Count() != 1 {
		t.Fatal("merged zero value shares state with its source")
	}
	if err := union.Merge(p12); !errors.Is(err, sketch.ErrIncompatible) {
		t.Fatalf("merge of precision 12 into 14: err = %v, want ErrIncompatible", err)
	}
	if err := union.Merge(&union); err != nil {
		t.Fatalf("self-merge: %v", err)
	}
}

func TestHyperLogLogConcurrent(t *testing.T) {
	h, _ := sketch.NewHyperLogLog(0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25_000 {
				h.AddHash(splitmix64(uint64(g*25_000 + i)))
				if i%1000 == 0 {
					h.Count()
				}
			}
		}()
	}
	wg.Wait()
	checkRelErr(t, "concurrent", h.Count(), 100_000, h.StdError())
}

func TestHyperLogLogParametersAndReset(t *testing.T) {
	for _, p := range []uint8{1, 3, 19, 255} {
		if _, err := sketch.NewHyperLogLog(p); !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("precision %d: err = %v, want ErrInvalidParameter", p, err)
		}
	}
	h, _ := sketch.NewHyperLogLog(16)
	if h.Precision() != 16 || math.Abs(h.StdError()-1.04/256) > 1e-12 {
		t.Fatalf("precision %d, std error %v", h.Precision(), h.StdError())
	}
	h.AddString("a")
	c := h.Clone()
	h.Reset()
	if h.Count() != 0 || c.Count() != 1 {
		t.Fatalf("after Reset: %d, clone %d", h.Count(), c.Count())
	}
	var zero sketch.HyperLogLog
	if zero.Count() != 0 || zero.Precision() != sketch.DefaultPrecision {
		t.Fatal("zero value is not an empty default sketch")
	}
}
