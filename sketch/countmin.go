package sketch

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/scalekit-go/scalekit/internal/mix"
)

// MaxCountMinCells is the largest width×depth of a Count-Min sketch
// (2^27 counters = 1 GiB).
const MaxCountMinCells = 1 << 27

// CountMin is a Count-Min sketch: it estimates how often each key was
// added in width×depth counters. An estimate never undercounts, and with
// probability at least 1−δ it overcounts by at most ε·N, N being the total
// added (Total). NewCountMin picks width = ⌈e/ε⌉ and depth = ⌈ln(1/δ)⌉.
//
// Adds use conservative update: only the counters that hold the current
// minimum are raised, which keeps the guarantee and makes overestimates
// much smaller than plain Count-Min's.
//
// A CountMin is safe for concurrent use. Adds are serialised by a mutex
// (conservative update must read and raise a key's counters in one step);
// Count reads the counters atomically without locking. The zero value
// has no shape: it counts nothing, can be the target of UnmarshalBinary,
// and panics on every other method (a programming error); create one with
// NewCountMin or NewCountMinSize.
type CountMin struct {
	mu    sync.Mutex // serialises writers
	t     atomic.Pointer[cmTable]
	total atomic.Uint64
}

// cmTable is the shape and counters of a CountMin. Readers load it without
// locking; UnmarshalBinary swaps in a new one.
type cmTable struct {
	width, depth uint64
	cells        []uint64 // depth rows of width counters; accessed atomically
}

// cell returns the index of the counter of row i for a key hashed to h.
// Each row mixes h with its row number and maps the result onto the row
// by multiply-shift.
func (t *cmTable) cell(h, i uint64) uint64 {
	g := mix.SplitMix64(h + i*hashK0)
	col, _ := bits.Mul64(g, t.width)
	return i*t.width + col
}

// estimate returns the minimum of key h's counters.
func (t *cmTable) estimate(h uint64) uint64 {
	est := uint64(math.MaxUint64)
	for i := uint64(0); i < t.depth; i++ {
		est = min(est, atomic.LoadUint64(&t.cells[t.cell(h, i)]))
	}
	return est
}

// CountMinSize returns the width ⌈e/ε⌉ and depth ⌈ln(1/δ)⌉ of a sketch
// whose estimates exceed the truth by more than ε·N with probability at
// most δ.
func CountMinSize(epsilon, delta float64) (width, depth int, err error) {
	if !(epsilon > 0 && epsilon < 1) {
		return 0, 0, fmt.Errorf("sketch: count-min ε = %v not in (0, 1): %w", epsilon, ErrInvalidParameter)
	}
	if !(delta > 0 && delta < 1) {
		return 0, 0, fmt.Errorf("sketch: count-min δ = %v not in (0, 1): %w", delta, ErrInvalidParameter)
	}
	w := math.Ceil(math.E / epsilon)
	d := math.Ceil(math.Log(1 / delta))
	if w*d > MaxCountMinCells {
		return 0, 0, fmt.Errorf("sketch: count-min ε = %v, δ = %v needs %.0f counters, over MaxCountMinCells: %w", epsilon, delta, w*d, ErrInvalidParameter)
	}
	return int(w), int(max(d, 1)), nil
}

// NewCountMin returns an empty sketch whose estimates exceed the true
// count by more than epsilon·Total with probability at most delta.
func NewCountMin(epsilon, delta float64) (*CountMin, error) {
	w, d, err := CountMinSize(epsilon, delta)
	if err != nil {
		return nil, err
	}
	return NewCountMinSize(w, d)
}

// NewCountMinSize returns an empty sketch of depth rows of width counters.
// Sketches that are to be merged must have the same width and depth.
func NewCountMinSize(width, depth int) (*CountMin, error) {
	if err := checkCountMinSize(uint64(width), uint64(depth)); err != nil || width <= 0 || depth <= 0 {
		return nil, fmt.Errorf("sketch: count-min of width %d and depth %d, want both ≥ 1 and width×depth ≤ %d: %w",
			width, depth, MaxCountMinCells, ErrInvalidParameter)
	}
	c := &CountMin{}
	c.t.Store(&cmTable{width: uint64(width), depth: uint64(depth), cells: make([]uint64, width*depth)})
	return c, nil
}

func checkCountMinSize(w, d uint64) error {
	if w == 0 || d == 0 || w > MaxCountMinCells || d > MaxCountMinCells || w*d > MaxCountMinCells {
		return ErrInvalidParameter
	}
	return nil
}

// Add adds n occurrences of key and returns its new estimated count.
func (c *CountMin) Add(key []byte, n uint64) uint64 { return c.AddHash(hash64(key), n) }

// AddString adds n occurrences of key (without copying it) and returns
// its new estimated count.
func (c *CountMin) AddString(key string, n uint64) uint64 { return c.AddHash(hashString(key), n) }

// addHashLocked is the common path of every add; c.mu must be held.
func (c *CountMin) addHashLocked(h, n uint64) uint64 {
	// Conservative update: the new estimate is the old minimum plus n;
	// raise only the counters below it.
	t := c.t.Load()
	if t == nil {
		panic("sketch: add to a zero CountMin (create it with NewCountMin)")
	}
	est := satAdd(t.estimate(h), n)
	for i := uint64(0); i < t.depth; i++ {
		p := &t.cells[t.cell(h, i)]
		if *p < est {
			atomic.StoreUint64(p, est)
		}
	}
	c.total.Add(n)
	return est
}

// AddHash adds n occurrences of a key given by its 64-bit hash and
// returns the key's new estimated count. The hash must be uniformly
// distributed over all 64 bits; keys with equal hashes count as one key.
// Sketches fed by hash are comparable with sketches fed by Add only if the
// hash is the same.
func (c *CountMin) AddHash(h, n uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addHashLocked(h, n)
}

// Count returns the estimated number of times key was added: never less
// than the truth.
func (c *CountMin) Count(key []byte) uint64 { return c.CountHash(hash64(key)) }

// CountString is Count for a string key.
func (c *CountMin) CountString(key string) uint64 { return c.CountHash(hashString(key)) }

// CountHash is Count for a key added with AddHash.
func (c *CountMin) CountHash(h uint64) uint64 {
	t := c.t.Load()
	if t == nil {
		return 0
	}
	return t.estimate(h)
}

// Total returns the sum of all n added (N in the error bound).
func (c *CountMin) Total() uint64 { return c.total.Load() }

// Width returns the number of counters per row.
func (c *CountMin) Width() int { return int(c.t.Load().width) }

// Depth returns the number of rows.
func (c *CountMin) Depth() int { return int(c.t.Load().depth) }

// Epsilon returns ε = e/width: estimates exceed the truth by at most
// ε·Total with probability at least 1−Delta().
func (c *CountMin) Epsilon() float64 { return math.E / float64(c.t.Load().width) }

// Delta returns δ = e^−depth.
func (c *CountMin) Delta() float64 { return math.Exp(-float64(c.t.Load().depth)) }

// Merge adds other's counts to c, as if c had also seen every add of
// other. Both must have the same width and depth, or Merge returns an
// error wrapping ErrIncompatible and leaves c unchanged. Counters are
// summed, so the merged sketch keeps the ε·N bound for the combined N.
// Merging a sketch into itself doubles every count.
func (c *CountMin) Merge(other *CountMin) error {
	other.mu.Lock()
	ot := other.t.Load()
	src := append([]uint64(nil), ot.cells...)
	n := other.total.Load()
	other.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t.Load()
	if ot.width != t.width || ot.depth != t.depth {
		return fmt.Errorf("sketch: merge count-min %dx%d into %dx%d: %w", ot.width, ot.depth, t.width, t.depth, ErrIncompatible)
	}
	for i, v := range src {
		atomic.StoreUint64(&t.cells[i], satAdd(t.cells[i], v))
	}
	c.total.Add(n)
	return nil
}

// Decay halves every counter and the total (rounding down), so old
// activity fades: called on a timer, it turns counts into a recent-rate
// measure. Estimates stay upper bounds of the halved true counts.
func (c *CountMin) Decay() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.decayLocked()
}

func (c *CountMin) decayLocked() {
	t := c.t.Load()
	for i := range t.cells {
		atomic.StoreUint64(&t.cells[i], t.cells[i]/2)
	}
	c.total.Store(c.total.Load() / 2)
}

// Reset sets every counter and the total to zero.
func (c *CountMin) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t.Load()
	for i := range t.cells {
		atomic.StoreUint64(&t.cells[i], 0)
	}
	c.total.Store(0)
}

// Clone returns an independent copy of c.
func (c *CountMin) Clone() *CountMin {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t.Load()
	d := &CountMin{}
	d.t.Store(&cmTable{width: t.width, depth: t.depth, cells: append([]uint64(nil), t.cells...)})
	d.total.Store(c.total.Load())
	return d
}

// Count-Min payload: width uint32, depth uint32, total uint64, then
// width×depth counters as unsigned varints (most are small).
const countMinFixed = 4 + 4 + 8

// MarshalBinary encodes the sketch: a "SKCM" header with the format
// version, width, depth, total, the counters, and a CRC-32C checksum.
func (c *CountMin) MarshalBinary() ([]byte, error) { return c.AppendBinary(nil) }

// AppendBinary appends the encoding MarshalBinary returns to dst.
func (c *CountMin) AppendBinary(dst []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t.Load()
	if t == nil {
		return nil, fmt.Errorf("sketch: marshal zero CountMin: %w", ErrInvalidParameter)
	}
	start := len(dst)
	dst = appendHeader(dst, magicCountMin)
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.width))
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.depth))
	dst = binary.BigEndian.AppendUint64(dst, c.total.Load())
	for _, v := range t.cells {
		dst = binary.AppendUvarint(dst, v)
	}
	return appendTrailer(dst, start), nil
}

// UnmarshalBinary replaces c's contents with the sketch encoded in data
// (by MarshalBinary). Malformed data gives an error wrapping ErrCorrupt or
// ErrUnsupportedVersion and leaves c unchanged.
func (c *CountMin) UnmarshalBinary(data []byte) error {
	p, err := openEnvelope(data, magicCountMin, "sketch: unmarshal count-min")
	if err != nil {
		return err
	}
	if len(p) < countMinFixed {
		return fmt.Errorf("sketch: unmarshal count-min: %w: payload of %d bytes", ErrCorrupt, len(p))
	}
	w, d := uint64(binary.BigEndian.Uint32(p)), uint64(binary.BigEndian.Uint32(p[4:]))
	total := binary.BigEndian.Uint64(p[8:])
	p = p[countMinFixed:]
	// Every counter takes at least one byte, which bounds the allocation
	// by the input's size.
	if checkCountMinSize(w, d) != nil || w*d > uint64(len(p)) {
		return fmt.Errorf("sketch: unmarshal count-min: %w: width %d, depth %d with %d bytes of counters", ErrCorrupt, w, d, len(p))
	}
	cells := make([]uint64, w*d)
	for i := range cells {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return fmt.Errorf("sketch: unmarshal count-min: %w: counter %d truncated or overflows", ErrCorrupt, i)
		}
		cells[i], p = v, p[n:]
	}
	if len(p) != 0 {
		return fmt.Errorf("sketch: unmarshal count-min: %w: %d bytes after the counters", ErrCorrupt, len(p))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t.Store(&cmTable{width: w, depth: d, cells: cells})
	c.total.Store(total)
	return nil
}

func satAdd(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}
