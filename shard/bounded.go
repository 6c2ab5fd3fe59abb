package shard

import (
	"fmt"
	"math"
	"sync"
)

// BoundedLoad is consistent hashing with bounded loads (Mirrokni, Thorup and
// Zadimoghaddam, 2018). Keys are placed on a Ring, but a node accepts a new
// key only while its load is below its capacity
//
//	cap_i = ⌈(1+ε) · (total+1) · w_i / Σw⌉
//
// (⌈(1+ε)·average⌉ for equal weights, counting the key being placed); a full
// node passes the key on clockwise. Place counts the key against its node
// and Done releases it, so — unlike rings whose "load" is advisory — no
// placement ever takes a node past its bound. Removing keys with Done lowers
// the average; nodes then above the new bound receive nothing more until
// they drain below it.
//
// A BoundedLoad is safe for concurrent use; Place, Done and Lookup do not
// allocate.
type BoundedLoad struct {
	ring  *Ring
	eps   float64
	share []float64 // w_i / Σw

	mu    sync.Mutex
	loads []int64
	total int64
}

// NewBoundedLoad returns a bounded-load strategy over nodes with slack
// epsilon > 0 (0.25 is a common choice); opts configures the ring.
func NewBoundedLoad(nodes []Node, epsilon float64, opts *RingOptions) (*BoundedLoad, error) {
	if !(epsilon > 0) || math.IsInf(epsilon, 0) {
		return nil, fmt.Errorf("shard.NewBoundedLoad: epsilon %v: %w", epsilon, ErrBadEpsilon)
	}
	r, err := NewRing(nodes, opts)
	if err != nil {
		return nil, err
	}
	var sum float64
	for _, w := range r.weights {
		sum += w
	}
	b := &BoundedLoad{ring: r, eps: epsilon, share: make([]float64, len(r.weights)), loads: make([]int64, len(r.weights))}
	for i, w := range r.weights {
		b.share[i] = w / sum
	}
	return b, nil
}

// Nodes implements Strategy.
func (b *BoundedLoad) Nodes() []string { return b.ring.nodes }

// capacity returns node i's bound when the total load is total.
func (b *BoundedLoad) capacity(i int, total int64) int64 {
	return int64(math.Ceil((1 + b.eps) * float64(total) * b.share[i]))
}

// Capacity returns node i's bound for the next placement:
// ⌈(1+ε)·(total+1)·w_i/Σw⌉.
func (b *BoundedLoad) Capacity(i int) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.capacity(i, b.total+1)
}

// pick returns the node Place would choose. Caller holds mu. It always
// finds one: Σ cap_i ≥ (1+ε)(total+1) > total, so some node is below its
// capacity, and the walk visits every point.
func (b *BoundedLoad) pick(key string) int {
	r := b.ring
	i := r.search(Hash(key))
	for range r.points {
		o := int(r.owner[i])
		if b.loads[o] < b.capacity(o, b.total+1) {
			return o
		}
		if i++; i == len(r.points) {
			i = 0
		}
	}
	return int(r.owner[r.search(Hash(key))]) // unreachable, see above
}

// Lookup returns the node that Place would choose now, without counting
// the key. It implements Strategy and never fails.
func (b *BoundedLoad) Lookup(key string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pick(key), nil
}

// Place assigns key to a node below its capacity, counts it, and returns
// the node's index. Call Done(i) when the key's work ends.
func (b *BoundedLoad) Place(key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.pick(key)
	b.loads[o]++
	b.total++
	return o
}

// Done releases one unit of load from node i. Releasing more than was
// placed, or an index out of range, is an error.
func (b *BoundedLoad) Done(i int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i < 0 || i >= len(b.loads) || b.loads[i] == 0 {
		return fmt.Errorf("shard.BoundedLoad.Done: node %d has no load: %w", i, ErrBadArgument)
	}
	b.loads[i]--
	b.total--
	return nil
}

// Loads appends the current load of every node to dst and returns it with
// the total.
func (b *BoundedLoad) Loads(dst []int64) ([]int64, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append(dst, b.loads...), b.total
}
