package sketch_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/scalekit-go/scalekit/sketch"
)

// TestCountMinErrorBound checks the guarantee empirically: no estimate is
// below the truth, and the share of keys overestimated by more than ε·N is
// at most δ. The streams are skewed (Zipf) and uniform, and the sketches
// small enough that collisions are frequent, so a broken hash, row or
// update rule shows up as a share well above δ.
func TestCountMinErrorBound(t *testing.T) {
	for _, tc := range []struct {
		name           string
		epsilon, delta float64
		keys, adds     int
		zipf           bool
	}{
		{"uniform/ε=0.01/δ=0.05", 0.01, 0.05, 50_000, 150_000, false},
		{"zipf/ε=0.005/δ=0.01", 0.005, 0.01, 100_000, 200_000, true},
		{"uniform/ε=0.002/δ=0.001", 0.002, 0.001, 20_000, 100_000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sketch.NewCountMin(tc.epsilon, tc.delta)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, uint64(tc.keys)))
			var z *rand.Zipf
			if tc.zipf {
				z = rand.NewZipf(rng, 1.1, 1, uint64(tc.keys-1))
			}
			names := make([]string, tc.keys+20_000)
			for i := range names {
				names[i] = "key-" + strconv.Itoa(i)
			}
			truth := make([]uint64, tc.keys)
			for range tc.adds {
				var k uint64
				if z != nil {
					k = z.Uint64()
				} else {
					k = rng.Uint64N(uint64(tc.keys))
				}
				n := 1 + k%3 // weighted adds too
				truth[k] += n
				c.AddString(names[k], n)
			}
			var total uint64
			for _, n := range truth {
				total += n
			}
			if c.Total() != total {
				t.Fatalf("Total = %d, want %d", c.Total(), total)
			}
			bound := tc.epsilon * float64(total)
			// Keys never added (true count 0) are subject to the same bound.
			probes := 0
			bad, worst := 0, uint64(0)
			check := func(k, want uint64) {
				got := c.CountString(names[k])
				if got < want {
					t.Fatalf("key %d: estimate %d below true count %d", k, got, want)
				}
				over := got - want
				worst = max(worst, over)
				if float64(over) > bound {
					bad++
				}
				probes++
			}
			for k, n := range truth {
				if n > 0 {
					check(uint64(k), n)
				}
			}
			for k := uint64(tc.keys); k < uint64(tc.keys)+20_000; k++ {
				check(k, 0)
			}
			share := float64(bad) / float64(probes)
			t.Logf("width=%d depth=%d N=%d: εN=%.0f, worst overestimate %d, share over εN %.5f (δ=%v)",
				c.Width(), c.Depth(), total, bound, worst, share, tc.delta)
			if share > tc.delta {
				t.Fatalf("%.5f of keys overestimated by more than εN, want ≤ δ = %v", share, tc.delta)
			}
		})
	}
}

// cmRows decodes a Count-Min encoding (layout in countmin.go) into its rows.
func cmRows(t *testing.T, data []byte) [][]uint64 {
	t.Helper()
	p := data[5 : len(data)-4]
	w, d := binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:])
	p = p[16:]
	rows := make([][]uint64, d)
	for i := range rows {
		rows[i] = make([]uint64, w)
		for j := range rows[i] {
			v, n := binary.Uvarint(p)
			rows[i][j], p = v, p[n:]
		}
	}
	return rows
}

// TestCountMinConservativeUpdate checks that adds raise only the counters
// holding the minimum: with plain Count-Min every row sums to Total; with
// conservative update, once keys collide, rows sum to less.
func TestCountMinConservativeUpdate(t *testing.T) {
	c, err := sketch.NewCountMinSize(64, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		c.AddString(strconv.Itoa(i%500), 1)
	}
	data, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range cmRows(t, data) {
		var sum uint64
		for _, v := range row {
			sum += v
		}
		t.Logf("row %d sums to %d of Total %d", i, sum, c.Total())
		if sum >= c.Total() {
			t.Fatalf("row %d sums to %d ≥ Total %d: every add raised every counter (not conservative)", i, sum, c.Total())
		}
	}
	// A key alone in the sketch is counted exactly, and Add returns the
	// new estimate.
	d, _ := sketch.NewCountMinSize(16, 3)
	for i := uint64(1); i <= 10; i++ {
		if got := d.Add([]byte("x"), 2); got != 2*i {
			t.Fatalf("Add #%d returned %d, want %d", i, got, 2*i)
		}
	}
	if d.Count([]byte("x")) != 20 || d.CountString("x") != 20 {
		t.Fatal("Count and CountString disagree with Add")
	}
}

func TestCountMinParameters(t *testing.T) {
	w, d, err := sketch.CountMinSize(0.001, 0.01)
	if err != nil || w != 2719 || d != 5 {
		t.Fatalf("CountMinSize(0.001, 0.01) = %d, %d, %v; want 2719, 5", w, d, err)
	}
	c, _ := sketch.NewCountMin(0.001, 0.01)
	if c.Epsilon() > 0.001 || c.Delta() > 0.01 {
		t.Fatalf("Epsilon %v, Delta %v looser than asked", c.Epsilon(), c.Delta())
	}
	for _, ed := range [][2]float64{{0, 0.1}, {1, 0.1}, {-1, 0.1}, {0.1, 0}, {0.1, 1}, {math.NaN(), 0.1}, {0.1, math.Inf(1)}, {1e-9, 1e-9}} {
		if _, err := sketch.NewCountMin(ed[0], ed[1]); !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("NewCountMin(%v, %v) err = %v, want ErrInvalidParameter", ed[0], ed[1], err)
		}
	}
	for _, wd := range [][2]int{{0, 1}, {1, 0}, {-5, 3}, {3, -1}, {1 << 20, 1 << 10}} {
		if _, err := sketch.NewCountMinSize(wd[0], wd[1]); !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("NewCountMinSize(%d, %d) err = %v, want ErrInvalidParameter", wd[0], wd[1], err)
		}
	}
}

func TestCountMinMergeDecayReset(t *testing.T) {
	a, _ := sketch.NewCountMin(0.01, 0.01)
	b, _ := sketch.NewCountMin(0.01, 0.01)
	a.AddString("x", 10)
	b.AddString("x", 5)
	b.AddString("y", 7)
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if a.CountString("x") != 15 || a.CountString("y") != 7 || a.Total() != 22 {
		t.Fatalf("after merge x=%d y=%d total=%d, want 15, 7, 22", a.CountString("x"), a.CountString("y"), a.Total())
	}
	if b.CountString("x") != 5 {
		t.Fatal("Merge modified its argument")
	}
	if err := a.Merge(a); err != nil || a.CountString("x") != 30 || a.Total() != 44 {
		t.Fatalf("self-merge: err %v, x=%d total=%d; want 30, 44", err, a.CountString("x"), a.Total())
	}
	other, _ := sketch.NewCountMin(0.001, 0.01)
	if err := a.Merge(other); !errors.Is(err, sketch.ErrIncompatible) {
		t.Fatalf("merge of different widths: err = %v, want ErrIncompatible", err)
	}
	if a.CountString("x") != 30 {
		t.Fatal("failed merge changed the sketch")
	}
	cl := a.Clone()
	a.Decay()
	if a.CountString("x") != 15 || a.Total() != 22 || cl.CountString("x") != 30 {
		t.Fatalf("after Decay x=%d total=%d, clone x=%d", a.CountString("x"), a.Total(), cl.CountString("x"))
	}
	a.Reset()
	if a.CountString("x") != 0 || a.Total() != 0 {
		t.Fatal("Reset kept counts")
	}
	// Counters saturate instead of wrapping.
	a.AddString("big", math.MaxUint64-1)
	if got := a.AddString("big", 10); got != math.MaxUint64 {
		t.Fatalf("saturating add returned %d", got)
	}
}

func TestCountMinConcurrent(t *testing.T) {
	c, _ := sketch.NewCountMin(0.001, 0.01)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20_000 {
				c.AddString(fmt.Sprint(i%100), 1)
				if i%7 == 0 {
					c.CountString(fmt.Sprint(g))
				}
			}
		}()
	}
	wg.Wait()
	for k := range 100 {
		if got := c.CountString(fmt.Sprint(k)); got < 800 {
			t.Fatalf("key %d counted %d, want ≥ 800 (lost updates)", k, got)
		}
	}
	if c.Total() != 80_000 {
		t.Fatalf("Total = %d, want 80000", c.Total())
	}
}
