package memorycache

import (
	"math/bits"
	"sync/atomic"
)

// table is one shard's index: an open-addressing hash table of node
// pointers with linear probing, read without any lock and written only
// under the shard's mutex.
//
// Readers load the table pointer, then slot pointers, atomically; a node's
// key, value, hash, expire and cost never change after it is published (a
// Set over an existing key publishes a new node in the old one's slot), so
// a reader that finds a node sees a complete entry. Deletion leaves a
// tombstone (or nil where no probe chain can pass), so a probe chain is
// never cut under a reader. Growth and tombstone clean-up copy the live
// nodes into a new table and publish it; the old table is never written
// again, so a reader still walking it sees a consistent, if momentarily
// stale, snapshot. An operation that starts after a write has returned
// loads the new table and sees the write.
type table[K comparable, V any] struct {
	slots []atomic.Pointer[node[K, V]]
	mask  uint64
	tomb  *node[K, V] // marks a deleted slot; never a real entry
}

const minTableSize = 8

func newTable[K comparable, V any](size int, tomb *node[K, V]) *table[K, V] {
	if size < minTableSize {
		size = minTableSize
	}
	size = 1 << bits.Len(uint(size-1))
	return &table[K, V]{slots: make([]atomic.Pointer[node[K, V]], size), mask: uint64(size - 1), tomb: tomb}
}

// home is the first slot of h's probe chain. The low bits of h pick the
// shard, so the slot comes from the high half.
func (t *table[K, V]) home(h uint64) uint64 { return bits.RotateLeft64(h, 32) & t.mask }

// get returns the node for key, or nil. Safe without the lock.
func (t *table[K, V]) get(h uint64, key K) *node[K, V] {
	for i := t.home(h); ; i = (i + 1) & t.mask {
		n := t.slots[i].Load()
		if n == nil {
			return nil
		}
		if n.hash == h && n != t.tomb && n.key == key {
			return n
		}
	}
}

// index is the set of a shard's writes to its table. Every method is
// called under the shard's mutex.
type index[K comparable, V any] struct {
	tab  *atomic.Pointer[table[K, V]] // the shard's, read by lock-free readers
	live int                          // entries
	used int                          // entries plus tombstones
	tomb *node[K, V]
}

func (x *index[K, V]) init(tab *atomic.Pointer[table[K, V]], size int) {
	x.tab = tab
	x.tomb = new(node[K, V])
	x.tab.Store(newTable(size, x.tomb))
	x.live, x.used = 0, 0
}

// insert adds n, whose key is absent.
func (x *index[K, V]) insert(n *node[K, V]) {
	t := x.tab.Load()
	if (x.used+1)*4 > len(t.slots)*3 {
		t = x.rehash(x.live + 1)
	}
	for i := t.home(n.hash); ; i = (i + 1) & t.mask {
		c := t.slots[i].Load()
		if c == nil {
			x.used++
			x.live++
			t.slots[i].Store(n)
			return
		}
		if c == t.tomb {
			x.live++
			t.slots[i].Store(n)
			return
		}
	}
}

// slot returns the slot holding exactly n.
func (x *index[K, V]) slot(n *node[K, V]) (*table[K, V], uint64) {
	t := x.tab.Load()
	for i := t.home(n.hash); ; i = (i + 1) & t.mask {
		c := t.slots[i].Load()
		if c == n {
			return t, i
		}
		if c == nil {
			panic("memorycache: node missing from its shard's index")
		}
	}
}

// replace publishes m in the slot of old (same key).
func (x *index[K, V]) replace(old, m *node[K, V]) {
	t, i := x.slot(old)
	t.slots[i].Store(m)
}

// remove deletes n. A slot followed by an empty one ends every probe chain
// through it, so it (and the tombstones before it) can become empty again.
func (x *index[K, V]) remove(n *node[K, V]) {
	t, i := x.slot(n)
	x.live--
	if t.slots[(i+1)&t.mask].Load() != nil {
		t.slots[i].Store(t.tomb)
		return
	}
	t.slots[i].Store(nil)
	x.used--
	for j := (i - 1) & t.mask; t.slots[j].Load() == t.tomb; j = (j - 1) & t.mask {
		t.slots[j].Store(nil)
		x.used--
	}
}

// rehash copies the live nodes into a new table sized for want entries
// (at most half full) and publishes it.
func (x *index[K, V]) rehash(want int) *table[K, V] {
	old := x.tab.Load()
	nt := newTable(2*want, x.tomb)
	for i := range old.slots {
		n := old.slots[i].Load()
		if n == nil || n == old.tomb {
			continue
		}
		j := nt.home(n.hash)
		for nt.slots[j].Load() != nil {
			j = (j + 1) & nt.mask
		}
		nt.slots[j].Store(n)
	}
	x.used = x.live
	x.tab.Store(nt)
	return nt
}

// each calls f for every node. f may remove the node it is given.
func (x *index[K, V]) each(f func(n *node[K, V])) {
	t := x.tab.Load()
	for i := range t.slots {
		if n := t.slots[i].Load(); n != nil && n != t.tomb {
			f(n)
		}
	}
}
