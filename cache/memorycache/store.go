package memorycache

import (
	"errors"
	"fmt"
	"hash/maphash"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/clock"
)

// ErrInvalidCapacity is returned by New when neither MaxEntries nor
// MaxCost is positive, or when either is negative.
var ErrInvalidCapacity = errors.New("memorycache: capacity must be positive (set MaxEntries or MaxCost)")

// ErrNegativeTTL is returned by Set and Add for a negative TTL.
var ErrNegativeTTL = errors.New("memorycache: negative TTL")

// ErrNegativeCost is returned by Set and Add when the Weigher returns a
// negative cost.
var ErrNegativeCost = errors.New("memorycache: weigher returned a negative cost")

// Options configure a Store. Exactly one of MaxEntries and MaxCost must be
// set.
type Options[K comparable, V any] struct {
	// MaxEntries bounds the number of entries.
	MaxEntries int
	// MaxCost bounds the sum of the entries' costs, as computed by Weigher
	// (default: every entry costs 1).
	MaxCost int64
	// Weigher returns the cost of an entry; used with MaxCost.
	Weigher func(key K, value V) int64
	// Policy is the eviction policy; the zero value is S3FIFO.
	Policy Policy
	// Shards is the number of independently locked shards, rounded up to a
	// power of two. Zero picks 4×GOMAXPROCS, fewer when that would leave
	// shards smaller than 256 entries. Capacity is split evenly, so a
	// single entry may cost at most MaxCost/Shards.
	Shards int
	// Clock is used for expiry; nil is the real clock.
	Clock clock.Clock
}

// Store is a bounded, sharded in-process cache with per-entry TTL. Values
// are kept as they are (not serialised). It implements driver.Local.
//
// A Store is safe for concurrent use. With the S3FIFO, FIFO, LIFO and
// Random policies a read takes no lock: each shard's index is a hash table
// read with atomic loads and written under the shard's mutex, and an
// S3FIFO hit bumps the entry's saturating counters only while they are
// below saturation (a hot entry is read without any write). LRU, MRU and
// LFU reorder on every hit and take the shard's mutex. Expired entries are never returned; they are
// removed when read, when evicted, or by Cleanup. The zero value is not
// usable: call New.
type Store[K comparable, V any] struct {
	shards  []shard[K, V]
	mask    uint64
	hash    func(K) uint64
	weigher func(K, V) int64
	clk     clock.Clock
	realClk bool
	conc    bool // hits need no lock
	s3      bool // hits bump S3-FIFO counters
	words   int  // > 0: V is updated in place, this many 64-bit words
	evicted atomic.Uint64
}

// shard keeps the table pointer its readers load on a cache line of its
// own, away from the mutex and counters its writers dirty.
type shard[K comparable, V any] struct {
	tab      atomic.Pointer[table[K, V]]
	_        [56]byte
	x        index[K, V]
	mu       sync.Mutex
	pol      policy[K, V]
	cost     int64
	capacity int64
	_        [56]byte
}

// New returns an empty Store.
func New[K comparable, V any](opts *Options[K, V]) (*Store[K, V], error) {
	var o Options[K, V]
	if opts != nil {
		o = *opts
	}
	if o.MaxEntries < 0 || o.MaxCost < 0 || (o.MaxEntries == 0 && o.MaxCost == 0) {
		return nil, fmt.Errorf("%w: MaxEntries=%d MaxCost=%d", ErrInvalidCapacity, o.MaxEntries, o.MaxCost)
	}
	if o.MaxEntries > 0 && o.MaxCost > 0 {
		return nil, fmt.Errorf("%w: set only one of MaxEntries (%d) and MaxCost (%d)", ErrInvalidCapacity, o.MaxEntries, o.MaxCost)
	}
	if o.Shards < 0 {
		return nil, fmt.Errorf("memorycache: negative Shards %d", o.Shards)
	}
	capacity := int64(o.MaxEntries)
	weigher := o.Weigher
	if o.MaxCost > 0 {
		capacity = o.MaxCost
	} else {
		weigher = nil // count mode: every entry costs 1
	}
	n := o.Shards
	if n == 0 {
		n = 4 * runtime.GOMAXPROCS(0)
		for n > 1 && capacity/int64(n) < 256 {
			n /= 2
		}
	}
	if int64(n) > capacity {
		n = int(capacity)
	}
	size := 1
	for size < n {
		size <<= 1
	}
	if int64(size) > capacity {
		size >>= 1
	}
	s := &Store[K, V]{
		shards:  make([]shard[K, V], size),
		mask:    uint64(size - 1),
		hash:    hasherFor[K](maphash.MakeSeed()),
		weigher: weigher,
		clk:     clock.Or(o.Clock),
		realClk: o.Clock == nil,
		words:   inplaceWords[V](),
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.capacity = capacity / int64(size)
		if int64(i) < capacity%int64(size) {
			sh.capacity++
		}
		ghost := int(sh.capacity)
		if o.MaxCost > 0 {
			ghost = 1024
		}
		p, err := newPolicy[K, V](o.Policy, sh.capacity, ghost)
		if err != nil {
			return nil, err
		}
		sh.pol = p
		s.conc = p.concurrentHit()
		s.s3 = o.Policy == S3FIFO
		sh.x.init(&sh.tab, minTableSize)
	}
	return s, nil
}

func (s *Store[K, V]) now() int64 {
	if s.realClk {
		return time.Now().UnixNano()
	}
	return s.clk.Now().UnixNano()
}

// Get returns the value of key if it is present and not expired.
func (s *Store[K, V]) Get(key K) (value V, ok bool) {
	ok = s.GetInto(key, &value)
	return value, ok
}

// GetInto is Get writing the live value of key into *dst (left untouched
// on a miss). For a large V it saves the copies of returning it by value,
// which is what the cache.Cache front uses on its hit path.
func (s *Store[K, V]) GetInto(key K, dst *V) bool {
	return s.GetIntoAt(key, dst, nil)
}

// GetIntoAt is GetInto that also reports the time it read: when the entry
// has an expiry, the store reads its clock once to check it and, if now is
// not nil, stores that reading (unix nanoseconds) in *now; otherwise *now
// is left untouched. A caller that checks its own freshness stamp on the
// same clock reuses the reading instead of taking a second one.
func (s *Store[K, V]) GetIntoAt(key K, dst *V, now *int64) bool {
	h := s.hash(key)
	sh := &s.shards[h&s.mask]
	if s.conc {
		n := sh.tab.Load().get(h, key)
		if n == nil {
			return false
		}
		var v V
		var exp int64
		if s.words > 0 {
			exp = loadSeq(n, &v, s.words)
		} else {
			exp, v = n.expire.Load(), n.value
		}
		if exp != 0 {
			t := s.now()
			if t >= exp {
				s.removeExpired(sh, n)
				return false
			}
			if now != nil {
				*now = t
			}
		}
		*dst = v
		if s.s3 {
			s3fifoHit(n)
		}
		return true
	}
	sh.mu.Lock()
	n := sh.tab.Load().get(h, key)
	if n == nil {
		sh.mu.Unlock()
		return false
	}
	if exp := n.expire.Load(); exp != 0 {
		t := s.now()
		if t >= exp {
			sh.removeLocked(n)
			sh.mu.Unlock()
			return false
		}
		if now != nil {
			*now = t
		}
	}
	*dst = n.value
	sh.pol.hit(n)
	sh.mu.Unlock()
	return true
}

// SameClock reports whether the store reads time from clk (nil and
// clock.Real() both mean the real clock; any other clock must be the very
// value given in Options.Clock), so that a reading GetIntoAt reports can
// stand in for one from clk.
func (s *Store[K, V]) SameClock(clk clock.Clock) bool {
	if s.realClk {
		return clk == nil || clk == clock.Real()
	}
	if clk == nil || !reflect.TypeOf(clk).Comparable() {
		return false
	}
	return clk == s.clk
}

// Expiry returns when key expires (zero time: never) and whether it is
// present and live.
func (s *Store[K, V]) Expiry(key K) (time.Time, bool) {
	h := s.hash(key)
	n := s.shards[h&s.mask].tab.Load().get(h, key)
	if n == nil {
		return time.Time{}, false
	}
	exp := n.expire.Load()
	if exp != 0 && s.now() >= exp {
		return time.Time{}, false
	}
	if exp == 0 {
		return time.Time{}, true
	}
	return time.Unix(0, exp), true
}

// removeExpired removes n if it is still the entry of its key and still
// expired (an in-place Set may have renewed it meanwhile).
func (s *Store[K, V]) removeExpired(sh *shard[K, V], n *node[K, V]) {
	sh.mu.Lock()
	if exp := n.expire.Load(); sh.tab.Load().get(n.hash, n.key) == n && exp != 0 && s.now() >= exp {
		sh.removeLocked(n)
	}
	sh.mu.Unlock()
}

func (sh *shard[K, V]) removeLocked(n *node[K, V]) {
	sh.x.remove(n)
	sh.pol.remove(n)
	sh.cost -= n.cost
}

// Set stores value under key for ttl (zero: no expiry), evicting entries
// as needed. It fails with an error wrapping driver.ErrTooLarge when the
// entry's cost exceeds a shard's capacity.
func (s *Store[K, V]) Set(key K, value V, ttl time.Duration) error {
	_, err := s.set(key, value, ttl, false)
	return err
}

// Add stores value under key only if the key is absent or expired.
func (s *Store[K, V]) Add(key K, value V, ttl time.Duration) (bool, error) {
	return s.set(key, value, ttl, true)
}

func (s *Store[K, V]) set(key K, value V, ttl time.Duration, onlyIfAbsent bool) (bool, error) {
	if ttl < 0 {
		return false, fmt.Errorf("%w: %v", ErrNegativeTTL, ttl)
	}
	cost := int64(1)
	if s.weigher != nil {
		cost = s.weigher(key, value)
		if cost < 0 {
			return false, fmt.Errorf("%w: %d", ErrNegativeCost, cost)
		}
	}
	h := s.hash(key)
	sh := &s.shards[h&s.mask]
	if cost > sh.capacity {
		return false, fmt.Errorf("memorycache: entry cost %d exceeds shard capacity %d: %w", cost, sh.capacity, driver.ErrTooLarge)
	}
	var expire int64
	if ttl > 0 {
		expire = s.now() + int64(ttl)
	}
	var n *node[K, V]
	if s.words == 0 {
		n = &node[K, V]{key: key, value: value, hash: h, cost: cost}
		n.expire.Store(expire)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old := sh.tab.Load().get(h, key); old != nil {
		if exp := old.expire.Load(); onlyIfAbsent && (exp == 0 || s.now() < exp) {
			return false, nil
		}
		if s.words > 0 {
			// In place: same node, same queue position; counts as a use.
			storeSeq(old, &value, expire, s.words)
			sh.cost += cost - old.cost
			oldCost := old.cost
			old.cost = cost
			sh.pol.update(old, oldCost)
			s.evictLocked(sh, 0)
			return true, nil
		}
		// Replace: the new node takes the old one's queue position and
		// the write counts as a use. Readers see either node, whole.
		sh.x.replace(old, n)
		sh.cost += cost - old.cost
		sh.pol.replace(old, n)
		s.evictLocked(sh, 0)
		return true, nil
	}
	if n == nil {
		n = &node[K, V]{key: key, value: value, hash: h, cost: cost}
		n.expire.Store(expire)
	}
	s.evictLocked(sh, cost)
	sh.x.insert(n)
	sh.cost += cost
	sh.pol.add(n)
	return true, nil
}

// evictLocked evicts entries until extra more cost fits in the shard.
func (s *Store[K, V]) evictLocked(sh *shard[K, V], extra int64) {
	var evicted uint64
	for sh.cost+extra > sh.capacity {
		v := sh.pol.victim()
		if v == nil {
			break
		}
		sh.x.remove(v)
		sh.cost -= v.cost
		evicted++
	}
	if evicted > 0 {
		s.evicted.Add(evicted)
	}
}

// Delete removes key.
func (s *Store[K, V]) Delete(key K) {
	h := s.hash(key)
	sh := &s.shards[h&s.mask]
	sh.mu.Lock()
	if n := sh.tab.Load().get(h, key); n != nil {
		sh.removeLocked(n)
	}
	sh.mu.Unlock()
}

// Len returns the number of entries, including expired ones not yet
// removed.
func (s *Store[K, V]) Len() int {
	total := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		total += sh.x.live
		sh.mu.Unlock()
	}
	return total
}

// Cost returns the sum of the entries' costs (the entry count in
// MaxEntries mode).
func (s *Store[K, V]) Cost() int64 {
	var total int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		total += sh.cost
		sh.mu.Unlock()
	}
	return total
}

// Evictions returns how many entries were evicted to make room.
func (s *Store[K, V]) Evictions() uint64 { return s.evicted.Load() }

// Cleanup removes every expired entry and returns how many it removed. It
// walks the whole store, one shard at a time.
func (s *Store[K, V]) Cleanup() int {
	now := s.now()
	removed := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.x.each(func(n *node[K, V]) {
			if exp := n.expire.Load(); exp != 0 && now >= exp {
				sh.removeLocked(n)
				removed++
			}
		})
		sh.mu.Unlock()
	}
	return removed
}

// Clear removes every entry.
func (s *Store[K, V]) Clear() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.x.each(sh.removeLocked)
		sh.mu.Unlock()
	}
}

var _ driver.Local[string, int] = (*Store[string, int])(nil)
