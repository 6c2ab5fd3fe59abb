package memorycache

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
)

// Policy names an eviction policy of a Store.
type Policy int

// The eviction policies. The zero value is S3FIFO, the default.
const (
	// S3FIFO is the default: a small probationary FIFO (10% of capacity)
	// in front of a main FIFO with second chance, plus a ghost queue of
	// recently evicted keys that admits returning keys to main. One-hit
	// wonders leave quickly, so it resists scans. Two additions to the
	// published S3-FIFO: once main is full, a returning key enters it only
	// if a TinyLFU frequency sketch rates it above main's next victim, and
	// while main has room the small queue's overflow moves into it; both
	// let a loop over more keys than fit keep a stable share (≈ 60% hits
	// on a loop 1.5× the capacity, where LRU and FIFO get none). Hits only
	// bump saturating per-entry counters, and take no lock.
	S3FIFO Policy = iota
	// LRU evicts the least recently used entry. Hits reorder a list, so
	// reads take the shard's exclusive lock.
	LRU
	// LFU evicts the least frequently used entry (ties: oldest). Hits
	// update a heap under the exclusive lock.
	LFU
	// FIFO evicts the oldest inserted entry; hits are lock-free.
	FIFO
	// LIFO evicts the newest inserted entry; hits are lock-free.
	LIFO
	// MRU evicts the most recently used entry (good for cyclic scans
	// larger than the cache). Hits take the exclusive lock.
	MRU
	// Random evicts a uniformly random entry; hits are lock-free.
	Random
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case S3FIFO:
		return "s3fifo"
	case LRU:
		return "lru"
	case LFU:
		return "lfu"
	case FIFO:
		return "fifo"
	case LIFO:
		return "lifo"
	case MRU:
		return "mru"
	case Random:
		return "random"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// policy orders the entries of one shard. Every method except hit is
// called under the shard's mutex; hit is called without any lock when
// concurrentHit reports true.
type policy[K comparable, V any] interface {
	add(n *node[K, V])
	hit(n *node[K, V])
	remove(n *node[K, V])
	replace(old, n *node[K, V])          // n (same key, new value) takes old's place; counts as a use
	update(n *node[K, V], oldCost int64) // n's value was rewritten in place; counts as a use
	victim() *node[K, V]                 // unlinks and returns the next entry to evict
	concurrentHit() bool
}

func newPolicy[K comparable, V any](p Policy, capacity int64, ghostSize int) (policy[K, V], error) {
	switch p {
	case S3FIFO:
		s := &s3fifo[K, V]{capacity: capacity, ghost: newGhost(ghostSize), sketch: newFreqSketch(ghostSize)}
		s.small.init()
		s.main.init()
		return s, nil
	case LRU, MRU, FIFO, LIFO:
		l := &listPolicy[K, V]{kind: p}
		l.l.init()
		return l, nil
	case LFU:
		return &lfu[K, V]{}, nil
	case Random:
		return &randomPolicy[K, V]{}, nil
	}
	return nil, fmt.Errorf("memorycache: unknown eviction policy %d", int(p))
}

// ---- S3-FIFO ----

// An S3-FIFO node's freq packs two saturating counters, both bumped by a
// hit: the low two bits are the queue credit (0..3; a main-queue entry
// with credit gets another lap), bits 2..5 the hits not yet folded into
// the shard's frequency sketch (0..15). A hit on a node whose counters
// are both saturated writes nothing, so hot entries are read-only.
const (
	creditMask    = 3
	pendingShift  = 2
	maxPending    = 15
	freqSaturated = creditMask | maxPending<<pendingShift
	queueSmall    = 1
	queueMain     = 2
)

// bumpFreq returns f after one more hit.
func bumpFreq(f int32) int32 {
	c, p := f&creditMask, f>>pendingShift
	if c < creditMask {
		c++
	}
	if p < maxPending {
		p++
	}
	return c | p<<pendingShift
}

// s3fifoHit records a hit; safe without the lock. It writes only when a
// counter is below saturation, and a lost race just loses one count.
func s3fifoHit[K comparable, V any](n *node[K, V]) {
	if f := n.freq.Load(); f != freqSaturated {
		n.freq.CompareAndSwap(f, bumpFreq(f))
	}
}

type s3fifo[K comparable, V any] struct {
	capacity    int64
	small, main list[K, V]
	ghost       *ghost
	sketch      *freqSketch
}

func (s *s3fifo[K, V]) concurrentHit() bool { return true }

func (s *s3fifo[K, V]) hit(n *node[K, V]) { s3fifoHit(n) }

// fold moves n's unfolded hits into the sketch and returns its credit,
// which it sets to credit (-1: unchanged).
func (s *s3fifo[K, V]) fold(n *node[K, V], credit int32) int32 {
	for {
		f := n.freq.Load()
		c := f & creditMask
		nc := c
		if credit >= 0 {
			nc = credit
		}
		if n.freq.CompareAndSwap(f, nc) {
			s.sketch.add(n.hash, int(f>>pendingShift))
			return c
		}
	}
}

// add inserts a new key. A key the ghost remembers (evicted from the small
// queue not long ago) goes straight to the main queue — if main still has
// room, or if the sketch says it is used more often than the entry main
// would evict next (TinyLFU admission). Otherwise it starts in the small
// queue. Without the frequency check a loop over more keys than fit
// churns main endlessly; with it main keeps a stable part of the loop.
func (s *s3fifo[K, V]) add(n *node[K, V]) {
	n.freq.Store(0)
	s.sketch.add(n.hash, 1)
	if s.ghost.take(n.hash) && s.admitMain(n) {
		n.queue = queueMain
		s.main.pushFront(n)
		return
	}
	n.queue = queueSmall
	s.small.pushFront(n)
}

func (s *s3fifo[K, V]) admitMain(n *node[K, V]) bool {
	if (s.main.cost+n.cost)*10 <= s.capacity*9 {
		return true
	}
	v := s.mainVictim()
	if v == nil {
		return true
	}
	return s.sketch.estimate(n.hash) > s.sketch.estimate(v.hash)
}

// mainVictim gives main-queue entries with credit another lap (one credit
// each) until the oldest has none, and returns it, still linked. Readers
// bump credits without the lock, even during the sweep, so after more laps
// than a credit can hold it takes the oldest entry regardless.
func (s *s3fifo[K, V]) mainVictim() *node[K, V] {
	for steps := (creditMask + 1) * (s.main.n + 1); ; steps-- {
		t := s.main.back()
		if t == nil {
			return nil
		}
		c := s.fold(t, -1)
		if c == 0 || steps <= 0 {
			return t
		}
		s.fold(t, c-1)
		s.main.moveToFront(t)
	}
}

func (s *s3fifo[K, V]) remove(n *node[K, V]) {
	if n.queue == queueSmall {
		s.small.remove(n)
	} else {
		s.main.remove(n)
	}
}

func (s *s3fifo[K, V]) update(n *node[K, V], oldCost int64) {
	if n.queue == queueSmall {
		s.small.cost += n.cost - oldCost
	} else {
		s.main.cost += n.cost - oldCost
	}
	s3fifoHit(n)
}

func (s *s3fifo[K, V]) replace(old, n *node[K, V]) {
	n.queue = old.queue
	n.freq.Store(old.freq.Load())
	if n.queue == queueSmall {
		s.small.replace(old, n)
	} else {
		s.main.replace(old, n)
	}
	s3fifoHit(n)
}

func (s *s3fifo[K, V]) victim() *node[K, V] {
	for {
		if s.small.n > 0 && (s.small.cost*10 >= s.capacity || s.main.n == 0) {
			t := s.small.back()
			s.small.remove(t)
			// Read while in the small queue, or main not yet full (a
			// cache still warming up keeps what it has, which is what a
			// loop over more keys than fit needs): move it to main.
			if s.fold(t, 0) > 0 {
				t.queue = queueMain
				s.main.pushFront(t)
				continue
			}
			if (s.main.cost+t.cost)*10 <= s.capacity*9 {
				t.queue = queueMain
				s.main.pushBack(t) // unread: first to go once main is full
				continue
			}
			s.ghost.add(t.hash)
			return t
		}
		t := s.mainVictim()
		if t == nil {
			return nil
		}
		s.main.remove(t)
		return t
	}
}

// ---- list policies: LRU, MRU, FIFO, LIFO ----

type listPolicy[K comparable, V any] struct {
	kind Policy
	l    list[K, V]
}

func (p *listPolicy[K, V]) concurrentHit() bool { return p.kind == FIFO || p.kind == LIFO }

func (p *listPolicy[K, V]) add(n *node[K, V]) { p.l.pushFront(n) }

func (p *listPolicy[K, V]) hit(n *node[K, V]) {
	if p.kind == LRU || p.kind == MRU {
		p.l.moveToFront(n)
	}
}

func (p *listPolicy[K, V]) update(n *node[K, V], oldCost int64) {
	p.l.cost += n.cost - oldCost
	p.hit(n)
}

func (p *listPolicy[K, V]) replace(old, n *node[K, V]) {
	p.l.replace(old, n)
	p.hit(n)
}

func (p *listPolicy[K, V]) remove(n *node[K, V]) { p.l.remove(n) }

func (p *listPolicy[K, V]) victim() *node[K, V] {
	var n *node[K, V]
	if p.kind == LRU || p.kind == FIFO {
		n = p.l.back()
	} else {
		n = p.l.front()
	}
	if n != nil {
		p.l.remove(n)
	}
	return n
}

// ---- LFU ----

type lfu[K comparable, V any] struct {
	h   lfuHeap[K, V]
	seq uint64
}

type lfuHeap[K comparable, V any] []*node[K, V]

func (h lfuHeap[K, V]) Len() int { return len(h) }
func (h lfuHeap[K, V]) Less(i, j int) bool {
	fi, fj := h[i].freq.Load(), h[j].freq.Load()
	if fi != fj {
		return fi < fj
	}
	return h[i].seq < h[j].seq
}
func (h lfuHeap[K, V]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *lfuHeap[K, V]) Push(x any) {
	n := x.(*node[K, V])
	n.idx = len(*h)
	*h = append(*h, n)
}
func (h *lfuHeap[K, V]) Pop() any {
	old := *h
	n := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return n
}

func (p *lfu[K, V]) concurrentHit() bool { return false }

func (p *lfu[K, V]) add(n *node[K, V]) {
	p.seq++
	n.seq = p.seq
	n.freq.Store(1)
	heap.Push(&p.h, n)
}

func (p *lfu[K, V]) hit(n *node[K, V]) {
	if f := n.freq.Load(); f < 1<<30 {
		n.freq.Store(f + 1)
	}
	heap.Fix(&p.h, n.idx)
}

func (p *lfu[K, V]) update(n *node[K, V], _ int64) { p.hit(n) }

func (p *lfu[K, V]) replace(old, n *node[K, V]) {
	n.idx, n.seq = old.idx, old.seq
	n.freq.Store(old.freq.Load())
	p.h[n.idx] = n
	p.hit(n)
}

func (p *lfu[K, V]) remove(n *node[K, V]) { heap.Remove(&p.h, n.idx) }

func (p *lfu[K, V]) victim() *node[K, V] {
	if len(p.h) == 0 {
		return nil
	}
	return heap.Pop(&p.h).(*node[K, V])
}

// ---- Random ----

type randomPolicy[K comparable, V any] struct {
	nodes []*node[K, V]
}

func (p *randomPolicy[K, V]) concurrentHit() bool { return true }
func (p *randomPolicy[K, V]) hit(*node[K, V])     {}

func (p *randomPolicy[K, V]) update(*node[K, V], int64) {}

func (p *randomPolicy[K, V]) replace(old, n *node[K, V]) {
	n.idx = old.idx
	p.nodes[n.idx] = n
}

func (p *randomPolicy[K, V]) add(n *node[K, V]) {
	n.idx = len(p.nodes)
	p.nodes = append(p.nodes, n)
}

func (p *randomPolicy[K, V]) remove(n *node[K, V]) {
	last := len(p.nodes) - 1
	moved := p.nodes[last]
	p.nodes[n.idx] = moved
	moved.idx = n.idx
	p.nodes[last] = nil
	p.nodes = p.nodes[:last]
}

func (p *randomPolicy[K, V]) victim() *node[K, V] {
	if len(p.nodes) == 0 {
		return nil
	}
	n := p.nodes[rand.IntN(len(p.nodes))]
	p.remove(n)
	return n
}
