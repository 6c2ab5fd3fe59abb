package sketch

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// Default accuracy of the Count-Min sketch behind a TopK.
const (
	DefaultTopKEpsilon = 0.0005
	DefaultTopKDelta   = 0.01
)

// TopKOptions configures a TopK. A nil *TopKOptions means the defaults of
// every field.
type TopKOptions struct {
	// Epsilon and Delta size the Count-Min sketch that counts every key
	// (see NewCountMin): a key's count is overestimated by more than
	// Epsilon·Total with probability at most Delta. Defaults
	// DefaultTopKEpsilon (≈ 5,400 counters per row) and DefaultTopKDelta
	// (5 rows): about 218 KiB.
	Epsilon, Delta float64
}

// TopKItem is a key and its estimated count.
type TopKItem struct {
	Key   string
	Count uint64
}

// TopK tracks the k most frequent keys of a stream (heavy hitters) in
// bounded memory: a Count-Min sketch estimates every key's count and a
// min-heap keeps the k keys with the highest estimates. A key enters the
// heap when its estimate beats the smallest tracked count. Any key whose
// true count exceeds Epsilon·Total plus the k-th largest count is
// reported.
//
// For hot-key detection, feed it every access (Add) and ask Hot, or list
// the current top keys with List; call Decay on a timer so that keys that
// were hot an hour ago make way for keys hot now.
//
// A TopK is safe for concurrent use (one mutex). The zero value is only
// useful as the target of UnmarshalBinary; create one with NewTopK.
type TopK struct {
	mu    sync.Mutex
	k     int
	cms   *CountMin
	heap  []TopKItem     // min-heap by Count
	index map[string]int // key → position in heap
}

// NewTopK returns a TopK that tracks the k most frequent keys.
func NewTopK(k int, opts *TopKOptions) (*TopK, error) {
	if k <= 0 {
		return nil, fmt.Errorf("sketch: top-k with k = %d, want ≥ 1: %w", k, ErrInvalidParameter)
	}
	var o TopKOptions
	if opts != nil {
		o = *opts
	}
	if o.Epsilon == 0 {
		o.Epsilon = DefaultTopKEpsilon
	}
	if o.Delta == 0 {
		o.Delta = DefaultTopKDelta
	}
	cms, err := NewCountMin(o.Epsilon, o.Delta)
	if err != nil {
		return nil, err
	}
	return &TopK{k: k, cms: cms, heap: make([]TopKItem, 0, k), index: make(map[string]int, k)}, nil
}

// Add counts one occurrence of key and reports whether key is now among
// the top k.
func (t *TopK) Add(key string) bool { return t.AddN(key, 1) }

// AddN counts n occurrences of key and reports whether key is now among
// the top k. Adding n = 0 changes nothing.
func (t *TopK) AddN(key string, n uint64) bool {
	h := hashString(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	if n == 0 {
		_, ok := t.index[key]
		return ok
	}
	t.cms.mu.Lock()
	est := t.cms.addHashLocked(h, n)
	t.cms.mu.Unlock()
	if i, ok := t.index[key]; ok {
		t.heap[i].Count = est
		t.down(i)
		return true
	}
	if len(t.heap) < t.k {
		// Keys are cloned on entry (the only allocation of Add) so that a
		// short key cut from a large string does not pin the large one.
		t.heap = append(t.heap, TopKItem{Key: strings.Clone(key), Count: est})
		t.index[t.heap[len(t.heap)-1].Key] = len(t.heap) - 1
		t.up(len(t.heap) - 1)
		return true
	}
	if est <= t.heap[0].Count {
		return false
	}
	delete(t.index, t.heap[0].Key)
	t.heap[0] = TopKItem{Key: strings.Clone(key), Count: est}
	t.index[t.heap[0].Key] = 0
	t.down(0)
	return true
}

// Hot reports whether key is currently among the top k.
func (t *TopK) Hot(key string) bool {
	t.mu.Lock()
	_, ok := t.index[key]
	t.mu.Unlock()
	return ok
}

// Count returns key's estimated count (from the sketch, whether or not key
// is in the top k). It never undercounts.
func (t *TopK) Count(key string) uint64 { return t.cms.CountString(key) }

// Total returns the total of all counts added.
func (t *TopK) Total() uint64 { return t.cms.Total() }

// K returns the number of keys tracked.
func (t *TopK) K() int { return t.k }

// List returns the tracked keys, most frequent first (ties by key).
func (t *TopK) List() []TopKItem {
	t.mu.Lock()
	out := slices.Clone(t.heap)
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b TopKItem) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out
}

// Decay halves every count (the sketch's and the tracked keys'), so a key
// must keep being added to stay on top. Keys whose count reaches zero
// leave the list.
func (t *TopK) Decay() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cms.Decay()
	kept := t.heap[:0]
	for _, it := range t.heap {
		if it.Count /= 2; it.Count > 0 {
			kept = append(kept, it)
		} else {
			delete(t.index, it.Key)
		}
	}
	clear(t.heap[len(kept):])
	t.heap = kept
	t.reheap()
}

// Merge adds other's counts to t, as if t had also seen every add of
// other. The candidates are the tracked keys of both; each is re-estimated
// from the merged sketch and the k largest are kept. A key tracked by
// neither side cannot enter the list by the merge, even if its combined
// count would place it there; its counts are in the sketch, so it enters
// on its next Add. Both must have sketches
// of the same width and depth (the same Epsilon and Delta), or Merge
// returns an error wrapping ErrIncompatible and leaves t unchanged.
// Merging a TopK into itself doubles every count.
func (t *TopK) Merge(other *TopK) error {
	other.mu.Lock()
	cand := slices.Clone(other.heap)
	cms := other.cms.Clone()
	other.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.cms.Merge(cms); err != nil {
		return err
	}
	seen := make(map[string]bool, len(cand)+len(t.heap))
	keys := make([]string, 0, len(cand)+len(t.heap))
	for _, it := range append(cand, t.heap...) {
		if !seen[it.Key] {
			seen[it.Key] = true
			keys = append(keys, it.Key)
		}
	}
	items := make([]TopKItem, len(keys))
	for i, k := range keys {
		items[i] = TopKItem{Key: k, Count: t.cms.CountString(k)}
	}
	slices.SortFunc(items, func(a, b TopKItem) int { return cmp.Compare(b.Count, a.Count) })
	t.heap = append(t.heap[:0], items[:min(len(items), t.k)]...)
	clear(t.index)
	t.reheap()
	return nil
}

// Reset forgets every key and count.
func (t *TopK) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cms.Reset()
	clear(t.heap)
	t.heap = t.heap[:0]
	clear(t.index)
}

func (t *TopK) less(i, j int) bool { return t.heap[i].Count < t.heap[j].Count }

func (t *TopK) swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.index[t.heap[i].Key] = i
	t.index[t.heap[j].Key] = j
}

func (t *TopK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(i, p) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *TopK) down(i int) {
	n := len(t.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && t.less(r, l) {
			c = r
		}
		if !t.less(c, i) {
			return
		}
		t.swap(i, c)
		i = c
	}
}

// reheap restores the heap order and the index after bulk changes.
func (t *TopK) reheap() {
	for i, it := range t.heap {
		t.index[it.Key] = i
	}
	for i := len(t.heap)/2 - 1; i >= 0; i-- {
		t.down(i)
	}
}

// MarshalBinary encodes the TopK: a "SKTK" header with the format version,
// k, the tracked keys and counts, the Count-Min sketch's own encoding, and
// a CRC-32C checksum. Instances can ship it to a reporter that merges them.
func (t *TopK) MarshalBinary() ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cms == nil {
		return nil, fmt.Errorf("sketch: marshal zero TopK: %w", ErrInvalidParameter)
	}
	cms, err := t.cms.MarshalBinary()
	if err != nil {
		return nil, err
	}
	dst := appendHeader(nil, magicTopK)
	dst = binary.AppendUvarint(dst, uint64(t.k))
	dst = binary.AppendUvarint(dst, uint64(len(t.heap)))
	for _, it := range t.heap {
		dst = binary.AppendUvarint(dst, uint64(len(it.Key)))
		dst = append(dst, it.Key...)
		dst = binary.AppendUvarint(dst, it.Count)
	}
	dst = append(dst, cms...)
	return appendTrailer(dst, 0), nil
}

// UnmarshalBinary replaces t's contents with the TopK encoded in data (by
// MarshalBinary). Malformed data gives an error wrapping ErrCorrupt or
// ErrUnsupportedVersion and leaves t unchanged.
func (t *TopK) UnmarshalBinary(data []byte) error {
	p, err := openEnvelope(data, magicTopK, "sketch: unmarshal top-k")
	if err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("sketch: unmarshal top-k: %w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	k, ok1 := uvarint()
	n, ok2 := uvarint()
	// Each listed key takes at least two bytes, which bounds n (and the
	// allocation) by the input's size.
	if !ok1 || !ok2 || k == 0 || k > math.MaxInt32 || n > k || n > uint64(len(p)) {
		return bad("k = %d with %d keys", k, n)
	}
	heap := make([]TopKItem, 0, n)
	index := make(map[string]int, n)
	for i := range n {
		l, ok := uvarint()
		if !ok || l > uint64(len(p)) {
			return bad("key %d truncated", i)
		}
		key := string(p[:l])
		p = p[l:]
		c, ok := uvarint()
		if !ok {
			return bad("count of key %d truncated", i)
		}
		if _, dup := index[key]; dup {
			return bad("key %q listed twice", key)
		}
		index[key] = len(heap)
		heap = append(heap, TopKItem{Key: key, Count: c})
	}
	cms := new(CountMin)
	if err := cms.UnmarshalBinary(p); err != nil {
		return fmt.Errorf("sketch: unmarshal top-k: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.k, t.cms, t.heap, t.index = int(k), cms, heap, index
	t.reheap()
	return nil
}
