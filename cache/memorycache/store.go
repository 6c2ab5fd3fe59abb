package memorycache

import (
	"errors"
	"fmt"
	"hash/maphash"
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
// Random policies a hit takes only the shard's read lock and, for S3FIFO,
// a saturating atomic counter bump; LRU, MRU and LFU take the shard's
// exclusive lock on a hit. Expired entries are never returned; they are
// removed when read, when evicted, or by Cleanup. The zero value is not
// usable: call New.
type Store[K comparable, V any] struct {
	shards  []shard[K, V]
	mask    uint64
	hash    func(K) uint64
	weigher func(K, V) int64
	clk     clock.Clock
	realClk bool
	evicted atomic.Uint64
}

type shard[K comparable, V any] struct {
	mu       sync.RWMutex
	m        map[K]*node[K, V]
	pol      policy[K, V]
	conc     bool
	cost     int64
	capacity int64
	_        [40]byte // keep hot shard locks on separate cache lines
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
		sh.conc = p.concurrentHit()
		sh.m = make(map[K]*node[K, V])
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
	h := s.hash(key)
	sh := &s.shards[h&s.mask]
	if sh.conc {
		sh.mu.RLock()
		n := sh.m[key]
		if n == nil {
			sh.mu.RUnlock()
			return false
		}
		if n.expire != 0 && s.now() >= n.expire {
			sh.mu.RUnlock()
			s.removeExpired(sh, key)
			return false
		}
		*dst = n.value
		sh.pol.hit(n)
		sh.mu.RUnlock()
		return true
	}
	sh.mu.Lock()
	n := sh.m[key]
	if n == nil {
		sh.mu.Unlock()
		return false
	}
	if n.expire != 0 && s.now() >= n.expire {
		sh.removeLocked(n)
		sh.mu.Unlock()
		return false
	}
	*dst = n.value
	sh.pol.hit(n)
	sh.mu.Unlock()
	return true
}

// Expiry returns when key expires (zero time: never) and whether it is
// present and live.
func (s *Store[K, V]) Expiry(key K) (time.Time, bool) {
	sh := &s.shards[s.hash(key)&s.mask]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	n := sh.m[key]
	if n == nil || (n.expire != 0 && s.now() >= n.expire) {
		return time.Time{}, false
	}
	if n.expire == 0 {
		return time.Time{}, true
	}
	return time.Unix(0, n.expire), true
}

func (s *Store[K, V]) removeExpired(sh *shard[K, V], key K) {
	sh.mu.Lock()
	if n := sh.m[key]; n != nil && n.expire != 0 && s.now() >= n.expire {
		sh.removeLocked(n)
	}
	sh.mu.Unlock()
}

func (sh *shard[K, V]) removeLocked(n *node[K, V]) {
	delete(sh.m, n.key)
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
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if n := sh.m[key]; n != nil {
		live := n.expire == 0 || s.now() < n.expire
		if onlyIfAbsent && live {
			return false, nil
		}
		// Update in place: the entry keeps its queue position and counts
		// as a use.
		n.value = value
		n.expire = expire
		sh.cost += cost - n.cost
		old := n.cost
		n.cost = cost
		sh.pol.update(n, old)
		s.evictLocked(sh, 0)
		return true, nil
	}
	s.evictLocked(sh, cost)
	n := &node[K, V]{key: key, value: value, hash: h, expire: expire, cost: cost}
	sh.m[key] = n
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
		delete(sh.m, v.key)
		sh.cost -= v.cost
		evicted++
	}
	if evicted > 0 {
		s.evicted.Add(evicted)
	}
}

// Delete removes key.
func (s *Store[K, V]) Delete(key K) {
	sh := &s.shards[s.hash(key)&s.mask]
	sh.mu.Lock()
	if n := sh.m[key]; n != nil {
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
		sh.mu.RLock()
		total += len(sh.m)
		sh.mu.RUnlock()
	}
	return total
}

// Cost returns the sum of the entries' costs (the entry count in
// MaxEntries mode).
func (s *Store[K, V]) Cost() int64 {
	var total int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		total += sh.cost
		sh.mu.RUnlock()
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
		for _, n := range sh.m {
			if n.expire != 0 && now >= n.expire {
				sh.removeLocked(n)
				removed++
			}
		}
		sh.mu.Unlock()
	}
	return removed
}

// Clear removes every entry.
func (s *Store[K, V]) Clear() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, n := range sh.m {
			sh.removeLocked(n)
		}
		sh.mu.Unlock()
	}
}

var _ driver.Local[string, int] = (*Store[string, int])(nil)
