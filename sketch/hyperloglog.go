package sketch

import (
	"fmt"
	"math"
	"sync"

	"github.com/axiomhq/hyperloglog"
)

// DefaultPrecision is the HyperLogLog precision used when none is given:
// 2^14 registers, a standard error of about 0.81% and at most 16 KiB.
const DefaultPrecision = 14

// HyperLogLog estimates the number of distinct keys added to it (for
// example daily active users) in a few KiB, however many there are. It
// wraps axiomhq/hyperloglog (sparse representation for small counts, then
// 2^p dense registers) and adds locking and a versioned encoding.
//
// Sketches of the same precision merge losslessly, so each instance of a
// service can count locally and a reporter can Merge their encodings; the
// estimate of the union is as accurate as if one sketch had seen it all.
//
// A HyperLogLog is safe for concurrent use (one mutex; the library's
// estimate also compacts its state). The zero value is an empty sketch of
// DefaultPrecision, except that the first Merge into it (before any Add)
// takes the precision of the merged sketch, so a reporter can start from
// a zero value whatever precision its sources use.
type HyperLogLog struct {
	mu      sync.Mutex
	sk      *hyperloglog.Sketch
	p       uint8  // precision of sk; 0 until sk is set
	count   uint64 // last estimate, valid while counted
	counted bool
}

// NewHyperLogLog returns an empty sketch with 2^precision registers;
// precision must be 4…18, or 0 for DefaultPrecision. The relative standard
// error is about 1.04/√(2^precision) (StdError).
func NewHyperLogLog(precision uint8) (*HyperLogLog, error) {
	if precision == 0 {
		precision = DefaultPrecision
	}
	sk, err := hyperloglog.NewSketch(precision, true)
	if err != nil {
		return nil, fmt.Errorf("sketch: hyperloglog precision %d, want 4…18: %w", precision, ErrInvalidParameter)
	}
	return &HyperLogLog{sk: sk, p: precision}, nil
}

// lazy makes the zero value usable; h.mu must be held.
// Every caller is about to change the sketch, so the cached count is
// dropped here.
func (h *HyperLogLog) lazy() *hyperloglog.Sketch {
	h.counted = false
	if h.sk == nil {
		h.sk, h.p = hyperloglog.New14(), DefaultPrecision
	}
	return h.sk
}

// Add adds key.
func (h *HyperLogLog) Add(key []byte) {
	h.mu.Lock()
	h.lazy().Insert(key)
	h.mu.Unlock()
}

// AddString adds key (without copying it).
func (h *HyperLogLog) AddString(key string) { h.Add(stringBytes(key)) }

// AddHash adds a key by its 64-bit hash, skipping the hashing step. The
// hash must be uniformly distributed over all 64 bits (a good hash
// function's output, not a counter); two keys are the same key exactly when
// their hashes are equal. Sketches fed by hash are not comparable with
// sketches fed by Add unless the hash is the one Add uses.
func (h *HyperLogLog) AddHash(hash uint64) {
	h.mu.Lock()
	h.lazy().InsertHash(hash)
	h.mu.Unlock()
}

// AddHashes adds keys by their hashes, as AddHash does for each, under
// one lock acquisition: the fast way to load many keys.
func (h *HyperLogLog) AddHashes(hashes []uint64) {
	h.mu.Lock()
	sk := h.lazy()
	for _, x := range hashes {
		sk.InsertHash(x)
	}
	h.mu.Unlock()
}

// Count returns the estimated number of distinct keys added. The estimate
// reads every register (tens to hundreds of microseconds for a dense
// sketch), so it is cached until the next change.
func (h *HyperLogLog) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sk == nil {
		return 0
	}
	if !h.counted {
		h.count, h.counted = h.sk.Estimate(), true
	}
	return h.count
}

// Precision returns p, the base-2 logarithm of the number of registers.
func (h *HyperLogLog) Precision() uint8 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.precisionLocked()
}

func (h *HyperLogLog) precisionLocked() uint8 {
	if h.sk == nil {
		return DefaultPrecision
	}
	return h.p
}

// StdError returns the relative standard error of Count, 1.04/√(2^p): a
// count is within one standard error of the truth about 68% of the time
// and within three about 99.7% of the time.
func (h *HyperLogLog) StdError() float64 { return StdError(h.Precision()) }

// StdError returns the relative standard error of a HyperLogLog of the
// given precision, 1.04/√(2^precision).
func StdError(precision uint8) float64 { return 1.04 / math.Sqrt(float64(uint64(1)<<precision)) }

// Merge adds every key of other to h, so h then counts the union. Both
// must have the same precision, or Merge returns an error wrapping
// ErrIncompatible and leaves h unchanged. other is not modified.
func (h *HyperLogLog) Merge(other *HyperLogLog) error {
	if other == h {
		return nil
	}
	other.mu.Lock()
	var src *hyperloglog.Sketch
	if other.sk != nil {
		src = other.sk.Clone()
	}
	sp := other.p
	other.mu.Unlock()
	if src == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sk == nil {
		h.sk, h.p, h.counted = src, sp, false
		return nil
	}
	dst := h.lazy()
	if h.p != sp {
		return fmt.Errorf("sketch: merge hyperloglog of precision %d into %d: %w", sp, h.p, ErrIncompatible)
	}
	if err := dst.Merge(src); err != nil {
		return fmt.Errorf("sketch: merge hyperloglog: %w: %v", ErrIncompatible, err)
	}
	return nil
}

// Clone returns an independent copy of h.
func (h *HyperLogLog) Clone() *HyperLogLog {
	h.mu.Lock()
	defer h.mu.Unlock()
	sk := h.lazy().Clone()
	return &HyperLogLog{sk: sk, p: h.p}
}

// Reset removes every key, keeping the precision.
func (h *HyperLogLog) Reset() {
	h.mu.Lock()
	h.lazy().Reset()
	h.mu.Unlock()
}

// MarshalBinary encodes the sketch: a "SKHL" header with the format
// version, the library's own encoding of the registers, and a CRC-32C
// checksum.
func (h *HyperLogLog) MarshalBinary() ([]byte, error) { return h.AppendBinary(nil) }

// AppendBinary appends the encoding MarshalBinary returns to dst.
func (h *HyperLogLog) AppendBinary(dst []byte) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	start := len(dst)
	dst = appendHeader(dst, magicHLL)
	dst, err := h.lazy().AppendBinary(dst)
	if err != nil {
		return nil, fmt.Errorf("sketch: marshal hyperloglog: %w", err)
	}
	return appendTrailer(dst, start), nil
}

// UnmarshalBinary replaces h's contents with the sketch encoded in data
// (by MarshalBinary). Malformed data gives an error wrapping ErrCorrupt or
// ErrUnsupportedVersion and leaves h unchanged.
func (h *HyperLogLog) UnmarshalBinary(data []byte) error {
	p, err := openEnvelope(data, magicHLL, "sketch: unmarshal hyperloglog")
	if err != nil {
		return err
	}
	sk, err := decodeHLL(p)
	if err != nil {
		return fmt.Errorf("sketch: unmarshal hyperloglog: %w: %v", ErrCorrupt, err)
	}
	h.mu.Lock()
	h.sk, h.p, h.counted = sk, p[1], false
	h.mu.Unlock()
	return nil
}

// decodeHLL decodes the library's encoding. The checksum has already
// caught accidental damage; a deliberately crafted payload that makes the
// library panic is reported as an error instead.
func decodeHLL(p []byte) (sk *hyperloglog.Sketch, err error) {
	defer func() {
		if r := recover(); r != nil {
			sk, err = nil, fmt.Errorf("invalid register data (%v)", r)
		}
	}()
	sk = new(hyperloglog.Sketch)
	if err := sk.UnmarshalBinary(p); err != nil {
		return nil, err
	}
	sk.Estimate() // exercise the decoded state here, under recover
	return sk, nil
}
