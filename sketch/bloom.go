package sketch

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/bits-and-blooms/bloom/v3"
)

// Limits on a Bloom filter's shape, so a typo or a corrupt header cannot
// make a constructor try to allocate terabytes.
const (
	// MaxBloomBits is the largest number of bits a Bloom filter may have
	// (2^35 bits = 4 GiB).
	MaxBloomBits = 1 << 35
	// MaxBloomHashes is the largest number of hash functions.
	MaxBloomHashes = 64
)

// Bloom is a Bloom filter: a set that answers "definitely absent" or
// "probably present". Its bits, hashing and sizing are those of
// bits-and-blooms/bloom/v3 (filters and encodings are interchangeable
// with it bit for bit); it adds lock-free concurrency, validation and a
// versioned, checksummed encoding.
//
// A Bloom is safe for concurrent use, and Add and Test take no lock: a key
// is hashed once and its k bits are read with atomic loads and set with
// atomic ORs (only those not set yet), so readers and writers run in
// parallel. TestAndAdd is serialised with other TestAndAdd calls, so that
// of several adding the same new key exactly one sees false. Whole-filter
// reads (Words, the encoding, the estimates) load every word atomically,
// so they see each word whole while adds go on. Create one with NewBloom or
// NewBloomWithSize. The zero value holds nothing and is only useful as the
// target of UnmarshalBinary; adding to it panics.
type Bloom struct {
	st atomic.Pointer[bloomState]
	mu sync.Mutex // serialises TestAndAdd, Merge into b and UnmarshalBinary
}

// bloomState is a filter's shape and bits; bit i is words[i/64]>>(i%64)&1.
// The words are only accessed atomically once the state is published.
type bloomState struct {
	m, k  uint64
	words []uint64
}

func newBloom(m, k uint64, words []uint64) *Bloom {
	b := &Bloom{}
	b.st.Store(&bloomState{m: m, k: k, words: words})
	return b
}

// BloomSize returns the number of bits m and hash functions k of a filter
// that holds n keys with false-positive probability fpRate, as NewBloom
// sizes it: m = ⌈−n·ln p / (ln 2)²⌉, k = ⌈ln 2 · m/n⌉.
func BloomSize(n uint64, fpRate float64) (m, k uint64, err error) {
	if n == 0 {
		return 0, 0, fmt.Errorf("sketch: bloom capacity 0: %w", ErrInvalidParameter)
	}
	if !(fpRate > 0 && fpRate < 1) {
		return 0, 0, fmt.Errorf("sketch: bloom false-positive rate %v not in (0, 1): %w", fpRate, ErrInvalidParameter)
	}
	fm := math.Ceil(-float64(n) * math.Log(fpRate) / (math.Ln2 * math.Ln2))
	if fm > MaxBloomBits {
		return 0, 0, fmt.Errorf("sketch: bloom of %d keys at rate %v needs %.0f bits, over MaxBloomBits: %w", n, fpRate, fm, ErrInvalidParameter)
	}
	m = uint64(fm)
	k = uint64(math.Ceil(math.Ln2 * float64(m) / float64(n)))
	return m, max(k, 1), nil
}

// NewBloom returns an empty filter sized to hold n keys with a
// false-positive probability of fpRate (for example 0.01) once they are
// added. More keys raise the rate; see EstimatedFalsePositiveRate.
func NewBloom(n uint64, fpRate float64) (*Bloom, error) {
	m, k, err := BloomSize(n, fpRate)
	if err != nil {
		return nil, err
	}
	return NewBloomWithSize(m, k)
}

// NewBloomWithSize returns an empty filter of m bits and k hash functions.
// Filters that are to be merged must have the same m and k.
func NewBloomWithSize(m, k uint64) (*Bloom, error) {
	if err := checkBloomSize(m, k); err != nil {
		return nil, err
	}
	return newBloom(m, k, make([]uint64, (m+63)/64)), nil
}

// NewBloomFromWords returns a filter of m bits and k hash functions whose
// bits are words: bit i is words[i/64]>>(i%64)&1, the layout Words returns.
// It is how filters stored elsewhere (see package redissketch) become local
// ones. words must have ⌈m/64⌉ elements and no bit set at or past m; it is
// copied.
func NewBloomFromWords(m, k uint64, words []uint64) (*Bloom, error) {
	if err := checkBloomSize(m, k); err != nil {
		return nil, err
	}
	if err := checkBloomWords(m, words); err != nil {
		return nil, err
	}
	return newBloom(m, k, append([]uint64(nil), words...)), nil
}

func checkBloomSize(m, k uint64) error {
	if m == 0 || m > MaxBloomBits {
		return fmt.Errorf("sketch: bloom of %d bits, want 1…%d: %w", m, uint64(MaxBloomBits), ErrInvalidParameter)
	}
	if k == 0 || k > MaxBloomHashes {
		return fmt.Errorf("sketch: bloom with %d hash functions, want 1…%d: %w", k, MaxBloomHashes, ErrInvalidParameter)
	}
	return nil
}

func checkBloomWords(m uint64, words []uint64) error {
	if want := (m + 63) / 64; uint64(len(words)) != want {
		return fmt.Errorf("sketch: bloom of %d bits needs %d words, got %d: %w", m, want, len(words), ErrInvalidParameter)
	}
	if r := m % 64; r != 0 && words[len(words)-1]>>r != 0 {
		return fmt.Errorf("sketch: bloom of %d bits has bits set past the end: %w", m, ErrInvalidParameter)
	}
	return nil
}

// errZeroBloom is the panic value of adding to a zero Bloom.
const errZeroBloom = "sketch: add to a zero Bloom (create it with NewBloom)"

func (b *Bloom) state() *bloomState {
	s := b.st.Load()
	if s == nil {
		panic(errZeroBloom)
	}
	return s
}

// Add adds key to the filter. It panics on a zero Bloom (a programming
// error: it has no size).
func (b *Bloom) Add(key []byte) {
	s := b.state()
	h := bloomBaseHashes(key)
	for i := uint64(0); i < s.k; i++ {
		loc := bloomLocation(h, i) % s.m
		w, bit := &s.words[loc>>6], uint64(1)<<(loc&63)
		if atomic.LoadUint64(w)&bit == 0 {
			atomic.OrUint64(w, bit)
		}
	}
}

// AddString adds key to the filter (without copying it).
func (b *Bloom) AddString(key string) { b.Add(stringBytes(key)) }

// Test reports whether key may be in the filter: false means it was
// certainly never added; true means it was added or is a false positive.
func (b *Bloom) Test(key []byte) bool {
	s := b.st.Load()
	if s == nil {
		return false
	}
	h := bloomBaseHashes(key)
	for i := uint64(0); i < s.k; i++ {
		loc := bloomLocation(h, i) % s.m
		if atomic.LoadUint64(&s.words[loc>>6])&(uint64(1)<<(loc&63)) == 0 {
			return false
		}
	}
	return true
}

// TestString is Test for a string key.
func (b *Bloom) TestString(key string) bool { return b.Test(stringBytes(key)) }

// TestAndAdd adds key and reports whether it may have been present before,
// in one atomic step with respect to other TestAndAdd calls: of several
// goroutines adding the same new key at once, exactly one sees false.
// It panics on a zero Bloom, as Add does.
func (b *Bloom) TestAndAdd(key []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state()
	h := bloomBaseHashes(key)
	present := true
	for i := uint64(0); i < s.k; i++ {
		loc := bloomLocation(h, i) % s.m
		w, bit := &s.words[loc>>6], uint64(1)<<(loc&63)
		if atomic.LoadUint64(w)&bit == 0 {
			present = false
			atomic.OrUint64(w, bit)
		}
	}
	return present
}

// TestAndAddString is TestAndAdd for a string key.
func (b *Bloom) TestAndAddString(key string) bool { return b.TestAndAdd(stringBytes(key)) }

// Bits returns the number of bits m.
func (b *Bloom) Bits() uint64 {
	if s := b.st.Load(); s != nil {
		return s.m
	}
	return 0
}

// Hashes returns the number of hash functions k.
func (b *Bloom) Hashes() uint64 {
	if s := b.st.Load(); s != nil {
		return s.k
	}
	return 0
}

// Words returns a copy of the filter's bits, bit i being
// words[i/64]>>(i%64)&1 (the layout NewBloomFromWords takes).
func (b *Bloom) Words() []uint64 {
	s := b.st.Load()
	if s == nil {
		return nil
	}
	return s.snapshot()
}

func (s *bloomState) snapshot() []uint64 {
	out := make([]uint64, len(s.words))
	for i := range s.words {
		out[i] = atomic.LoadUint64(&s.words[i])
	}
	return out
}

func (s *bloomState) ones() uint64 {
	n := 0
	for i := range s.words {
		n += bits.OnesCount64(atomic.LoadUint64(&s.words[i]))
	}
	return uint64(n)
}

// BloomLocations appends to dst the k bit positions (each < m) that key sets
// in a filter of m bits and k hash functions, and returns the extended
// slice. It is the hashing every Bloom uses, exposed so that filters kept
// elsewhere (package redissketch) stay bit-for-bit compatible.
func BloomLocations(dst []uint64, key []byte, m, k uint64) []uint64 {
	for _, l := range bloom.Locations(key, uint(k)) {
		dst = append(dst, l%m)
	}
	return dst
}

// EstimatedCount estimates how many distinct keys were added, from the
// fraction of bits set (bits-and-blooms' ApproximatedSize).
func (b *Bloom) EstimatedCount() uint64 {
	s := b.st.Load()
	if s == nil {
		return 0
	}
	x, m, k := float64(s.ones()), float64(s.m), float64(s.k)
	size := -1 * m / k * math.Log(1-x/m) / math.Log(math.E)
	return uint64(uint32(math.Floor(size + 0.5)))
}

// EstimatedFalsePositiveRate is the probability that Test of a key never
// added returns true, given the bits set now: (set bits / m)^k.
func (b *Bloom) EstimatedFalsePositiveRate() float64 {
	s := b.st.Load()
	if s == nil {
		return 0
	}
	return math.Pow(float64(s.ones())/float64(s.m), float64(s.k))
}

// Merge adds every key of other to b (a bitwise OR). Both must have the
// same number of bits and hash functions, or Merge returns an error
// wrapping ErrIncompatible and leaves b unchanged. other is not modified;
// merging a filter into itself is a no-op.
func (b *Bloom) Merge(other *Bloom) error {
	if other == b {
		return nil
	}
	src := other.st.Load()
	if src == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.st.Load()
	if s == nil || s.m != src.m || s.k != src.k {
		return fmt.Errorf("sketch: merge bloom m=%d k=%d into m=%d k=%d: %w",
			src.m, src.k, b.Bits(), b.Hashes(), ErrIncompatible)
	}
	for i := range src.words {
		if w := atomic.LoadUint64(&src.words[i]); w != 0 {
			atomic.OrUint64(&s.words[i], w)
		}
	}
	return nil
}

// Clone returns an independent copy of b.
func (b *Bloom) Clone() *Bloom {
	s := b.st.Load()
	if s == nil {
		return &Bloom{}
	}
	return newBloom(s.m, s.k, s.snapshot())
}

// Clear removes every key.
func (b *Bloom) Clear() {
	if s := b.st.Load(); s != nil {
		for i := range s.words {
			atomic.StoreUint64(&s.words[i], 0)
		}
	}
}

// Bloom payload: m uint64, k uint8, then ⌈m/64⌉ words, each uint64.
const bloomFixed = 8 + 1

// MarshalBinary encodes the filter: a "SKBF" header with the format
// version, m, k, the bits, and a CRC-32C checksum.
func (b *Bloom) MarshalBinary() ([]byte, error) { return b.AppendBinary(nil) }

// AppendBinary appends the encoding MarshalBinary returns to dst.
func (b *Bloom) AppendBinary(dst []byte) ([]byte, error) {
	s := b.st.Load()
	if s == nil {
		return nil, fmt.Errorf("sketch: marshal zero Bloom: %w", ErrInvalidParameter)
	}
	start := len(dst)
	dst = appendHeader(dst, magicBloom)
	dst = binary.BigEndian.AppendUint64(dst, s.m)
	dst = append(dst, byte(s.k))
	for i := range s.words {
		dst = binary.BigEndian.AppendUint64(dst, atomic.LoadUint64(&s.words[i]))
	}
	return appendTrailer(dst, start), nil
}

// UnmarshalBinary replaces b's contents with the filter encoded in data
// (by MarshalBinary). Malformed data gives an error wrapping ErrCorrupt or
// ErrUnsupportedVersion and leaves b unchanged.
func (b *Bloom) UnmarshalBinary(data []byte) error {
	p, err := openEnvelope(data, magicBloom, "sketch: unmarshal bloom")
	if err != nil {
		return err
	}
	if len(p) < bloomFixed {
		return fmt.Errorf("sketch: unmarshal bloom: %w: payload of %d bytes", ErrCorrupt, len(p))
	}
	m, k := binary.BigEndian.Uint64(p), uint64(p[8])
	if checkBloomSize(m, k) != nil {
		return fmt.Errorf("sketch: unmarshal bloom: %w: m=%d k=%d", ErrCorrupt, m, k)
	}
	p = p[bloomFixed:]
	if n := (m + 63) / 64; uint64(len(p)) != n*8 {
		return fmt.Errorf("sketch: unmarshal bloom: %w: m=%d needs %d bytes of bits, have %d", ErrCorrupt, m, n*8, len(p))
	}
	words := make([]uint64, len(p)/8)
	for i := range words {
		words[i] = binary.BigEndian.Uint64(p[8*i:])
	}
	if checkBloomWords(m, words) != nil {
		return fmt.Errorf("sketch: unmarshal bloom: %w: bits set past m=%d", ErrCorrupt, m)
	}
	b.mu.Lock()
	b.st.Store(&bloomState{m: m, k: k, words: words})
	b.mu.Unlock()
	return nil
}
