package sketch_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/scalekit-go/scalekit/sketch"
)

// key returns a distinct 8-byte key for i.
func key(buf *[8]byte, i uint64) []byte {
	binary.LittleEndian.PutUint64(buf[:], i)
	return buf[:]
}

func TestBloomFalsePositiveRateAtCapacity(t *testing.T) {
	for _, tc := range []struct {
		n  uint64
		fp float64
	}{{10_000, 0.05}, {100_000, 0.01}, {50_000, 0.001}} {
		t.Run(fmt.Sprintf("n=%d/p=%v", tc.n, tc.fp), func(t *testing.T) {
			b, err := sketch.NewBloom(tc.n, tc.fp)
			if err != nil {
				t.Fatal(err)
			}
			var buf [8]byte
			for i := uint64(0); i < tc.n; i++ {
				b.Add(key(&buf, i))
			}
			// No false negatives, ever.
			for i := uint64(0); i < tc.n; i++ {
				if !b.Test(key(&buf, i)) {
					t.Fatalf("added key %d tests absent", i)
				}
			}
			// Probe enough non-members to expect ≥ 500 false positives,
			// so the 1.2× margin is several standard deviations wide.
			probes := uint64(500 / tc.fp)
			fps := 0
			for i := uint64(0); i < probes; i++ {
				if b.Test(key(&buf, 1<<40+i)) {
					fps++
				}
			}
			rate := float64(fps) / float64(probes)
			t.Logf("m=%d k=%d: false-positive rate %.5f (target %v, estimate %.5f), count estimate %d",
				b.Bits(), b.Hashes(), rate, tc.fp, b.EstimatedFalsePositiveRate(), b.EstimatedCount())
			if rate > 1.2*tc.fp {
				t.Fatalf("false-positive rate %.5f exceeds 1.2 × target %v", rate, tc.fp)
			}
			if est := b.EstimatedCount(); est < tc.n*95/100 || est > tc.n*105/100 {
				t.Errorf("EstimatedCount = %d, want within 5%% of %d", est, tc.n)
			}
		})
	}
}

func TestBloomBadParameters(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    uint64
		fp   float64
	}{{"zero n", 0, 0.01}, {"fp 0", 10, 0}, {"fp 1", 10, 1}, {"fp negative", 10, -0.5}, {"fp NaN", 10, nan()}, {"too big", 1 << 40, 1e-9}} {
		if _, err := sketch.NewBloom(tc.n, tc.fp); !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("%s: NewBloom(%d, %v) err = %v, want ErrInvalidParameter", tc.name, tc.n, tc.fp, err)
		}
	}
	for _, mk := range [][2]uint64{{0, 3}, {100, 0}, {100, 65}, {sketch.MaxBloomBits + 1, 3}} {
		if _, err := sketch.NewBloomWithSize(mk[0], mk[1]); !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("NewBloomWithSize(%d, %d) err = %v, want ErrInvalidParameter", mk[0], mk[1], err)
		}
	}
	if _, err := sketch.NewBloomFromWords(100, 3, make([]uint64, 1)); !errors.Is(err, sketch.ErrInvalidParameter) {
		t.Errorf("too few words: err = %v", err)
	}
	if _, err := sketch.NewBloomFromWords(100, 3, []uint64{0, 1 << 40}); !errors.Is(err, sketch.ErrInvalidParameter) {
		t.Errorf("bit past m: err = %v", err)
	}
}

func TestBloomMerge(t *testing.T) {
	a, _ := sketch.NewBloom(1000, 0.01)
	b, _ := sketch.NewBloom(1000, 0.01)
	a.AddString("alice")
	b.AddString("bob")
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if !a.TestString("alice") || !a.TestString("bob") {
		t.Fatal("merged filter lost a key")
	}
	if b.TestString("alice") {
		t.Fatal("Merge modified its argument")
	}
	if err := a.Merge(a); err != nil {
		t.Fatalf("self-merge: %v", err)
	}
	other, _ := sketch.NewBloom(2000, 0.01)
	before := a.Words()
	if err := a.Merge(other); !errors.Is(err, sketch.ErrIncompatible) {
		t.Fatalf("merge of different sizes: err = %v, want ErrIncompatible", err)
	}
	if fmt.Sprint(before) != fmt.Sprint(a.Words()) {
		t.Fatal("failed merge changed the filter")
	}
}

func TestBloomTestAndAddOneWinner(t *testing.T) {
	b, _ := sketch.NewBloom(10_000, 0.001)
	const goroutines = 8
	var wg sync.WaitGroup
	firsts := make([]int, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if !b.TestAndAddString(fmt.Sprint("user-", i)) {
					firsts[g]++
				}
			}
		}()
	}
	// Readers run alongside the writers (for the race detector).
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 2000 {
			b.TestString(fmt.Sprint("user-", i%500))
		}
	}()
	wg.Wait()
	total := 0
	for _, n := range firsts {
		total += n
	}
	// Each new name is claimed exactly once; a false positive can only
	// make a name look taken, so total may fall short by a handful.
	if total > 500 || total < 495 {
		t.Fatalf("%d names claimed first, want 500 (495 allowing false positives)", total)
	}
}

func TestBloomCloneClearAndWords(t *testing.T) {
	b, _ := sketch.NewBloom(100, 0.01)
	b.AddString("x")
	c := b.Clone()
	b.Clear()
	if b.TestString("x") || !c.TestString("x") {
		t.Fatal("Clone shares state or Clear kept the key")
	}
	d, err := sketch.NewBloomFromWords(c.Bits(), c.Hashes(), c.Words())
	if err != nil {
		t.Fatal(err)
	}
	if !d.TestString("x") {
		t.Fatal("NewBloomFromWords lost a key")
	}
	locs := sketch.BloomLocations(nil, []byte("x"), c.Bits(), c.Hashes())
	w := c.Words()
	for _, l := range locs {
		if w[l/64]>>(l%64)&1 == 0 {
			t.Fatalf("BloomLocations gave bit %d, not set in the filter", l)
		}
	}
	var zero sketch.Bloom
	if zero.TestString("x") || zero.Bits() != 0 {
		t.Fatal("zero Bloom is not empty")
	}
}

// Add and Test take no lock: concurrent adds, tests, whole-filter reads,
// merges and clones never lose a completed add (no false negative) and
// pass the race detector.
func TestBloomConcurrentLockFree(t *testing.T) {
	b, err := sketch.NewBloom(20_000, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := sketch.NewBloom(20_000, 0.01)
	other.AddString("from-other")
	const writers, per = 4, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var buf [8]byte
			for i := uint64(0); i < per; i++ {
				k := key(&buf, uint64(w)<<32|i)
				b.Add(k)
				if !b.Test(k) {
					t.Errorf("key %d/%d absent right after Add", w, i)
					return
				}
			}
		}(w)
	}
	var rd sync.WaitGroup
	rd.Add(1)
	go func() {
		defer rd.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = b.Words()
			_ = b.EstimatedCount()
			_, _ = b.MarshalBinary()
			_ = b.Clone()
			if err := b.Merge(other); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	rd.Wait()
	var buf [8]byte
	for w := 0; w < writers; w++ {
		for i := uint64(0); i < per; i++ {
			if !b.Test(key(&buf, uint64(w)<<32|i)) {
				t.Fatalf("false negative for key %d/%d", w, i)
			}
		}
	}
	if !b.TestString("from-other") {
		t.Fatal("merged key missing")
	}
}
