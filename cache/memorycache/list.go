package memorycache

import "sync/atomic"

// node is one entry. key and hash never change once the node is published
// in its shard's index; value and expire change only in place under vseq
// (see inplace.go) or not at all (a Set over an existing key publishes a
// new node); cost is used only under the shard's mutex. The policy fields
// (prev, next, idx, seq, queue) are used only under the shard's mutex;
// freq is updated by lock-free readers with atomics.
type node[K comparable, V any] struct {
	key    K
	value  V
	hash   uint64
	vseq   atomic.Uint32 // odd while value and expire are being rewritten
	expire atomic.Int64  // unix nanoseconds; 0 means no expiry
	cost   int64
	freq   atomic.Int32
	prev   *node[K, V]
	next   *node[K, V]
	idx    int    // position in the LFU heap or the random slice
	seq    uint64 // insertion order, LFU tie-break
	queue  uint8  // S3-FIFO: which queue holds the node
}

// list is an intrusive doubly linked list with a sentinel: front is the
// newest end, back the oldest.
type list[K comparable, V any] struct {
	root node[K, V]
	cost int64
	n    int
}

func (l *list[K, V]) init() {
	l.root.next = &l.root
	l.root.prev = &l.root
}

func (l *list[K, V]) pushFront(n *node[K, V]) {
	n.prev = &l.root
	n.next = l.root.next
	l.root.next.prev = n
	l.root.next = n
	l.cost += n.cost
	l.n++
}

func (l *list[K, V]) pushBack(n *node[K, V]) {
	n.next = &l.root
	n.prev = l.root.prev
	l.root.prev.next = n
	l.root.prev = n
	l.cost += n.cost
	l.n++
}

func (l *list[K, V]) remove(n *node[K, V]) {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
	l.cost -= n.cost
	l.n--
}

// replace puts n in old's place (n.cost may differ from old's).
func (l *list[K, V]) replace(old, n *node[K, V]) {
	n.prev, n.next = old.prev, old.next
	n.prev.next = n
	n.next.prev = n
	old.prev, old.next = nil, nil
	l.cost += n.cost - old.cost
}

func (l *list[K, V]) moveToFront(n *node[K, V]) {
	if l.root.next == n {
		return
	}
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev = &l.root
	n.next = l.root.next
	l.root.next.prev = n
	l.root.next = n
}

func (l *list[K, V]) front() *node[K, V] {
	if l.n == 0 {
		return nil
	}
	return l.root.next
}

func (l *list[K, V]) back() *node[K, V] {
	if l.n == 0 {
		return nil
	}
	return l.root.prev
}

// ghost remembers the hashes of keys recently evicted from the S3-FIFO
// small queue, in a ring of fixed size.
type ghost struct {
	ring []uint64
	pos  int
	full bool
	set  map[uint64]int32
}

func newGhost(size int) *ghost {
	if size < 16 {
		size = 16
	}
	return &ghost{ring: make([]uint64, size), set: make(map[uint64]int32, size)}
}

func (g *ghost) add(h uint64) {
	if g.full {
		old := g.ring[g.pos]
		if c := g.set[old]; c > 1 {
			g.set[old] = c - 1
		} else {
			delete(g.set, old)
		}
	}
	g.ring[g.pos] = h
	g.set[h]++
	g.pos++
	if g.pos == len(g.ring) {
		g.pos = 0
		g.full = true
	}
}

// take reports whether h is remembered and forgets it.
func (g *ghost) take(h uint64) bool {
	if _, ok := g.set[h]; !ok {
		return false
	}
	delete(g.set, h)
	return true
}
