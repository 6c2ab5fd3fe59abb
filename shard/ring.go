package shard

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// DefaultVirtualNodes is the number of points a weight-1 node gets on a Ring
// when RingOptions.VirtualNodes is zero. With 512 points per node the
// busiest of 100 nodes holds about 1.1× the average share of keys.
const DefaultVirtualNodes = 512

// maxRingPoints bounds the ring size so that absurd weights or vnode counts
// return an error rather than exhausting memory.
const maxRingPoints = 1 << 24

// RingOptions configures NewRing. The zero value (or nil) means
// DefaultVirtualNodes points per unit of weight.
type RingOptions struct {
	// VirtualNodes is the number of points per unit of weight; 0 means
	// DefaultVirtualNodes; negative is an error.
	VirtualNodes int
}

// Ring is a consistent-hash ring with virtual nodes: each node owns
// round(VirtualNodes × weight) points (at least one), and a key belongs to
// the first point clockwise from Hash(key). Adding or removing a node moves
// only the keys of the arcs it gains or loses. Replicas returns distinct
// physical nodes for replica placement. A Ring is immutable and safe for
// concurrent use; Lookup does not allocate.
type Ring struct {
	nodes   []string
	weights []float64
	points  []uint64 // sorted
	owner   []int32  // owner[i] is the node of points[i]
	// index[b] is the first point whose top `bits` bits are ≥ b, so a
	// search only scans the points of one bucket (about one on average).
	index []uint32
	shift uint
}

// NewRing builds a ring over nodes.
func NewRing(nodes []Node, opts *RingOptions) (*Ring, error) {
	const op = "shard.NewRing"
	names, weights, err := checkNodes(op, nodes)
	if err != nil {
		return nil, err
	}
	v := DefaultVirtualNodes
	if opts != nil && opts.VirtualNodes != 0 {
		v = opts.VirtualNodes
	}
	if v < 0 {
		return nil, fmt.Errorf("%s: VirtualNodes %d: %w", op, v, ErrBadArgument)
	}
	counts := make([]int, len(names))
	total := 0
	for i, w := range weights {
		c := math.Round(float64(v) * w)
		if c > maxRingPoints {
			return nil, fmt.Errorf("%s: node %q needs %v points: %w", op, names[i], c, ErrBadWeight)
		}
		counts[i] = max(int(c), 1)
		total += counts[i]
		if total > maxRingPoints {
			return nil, fmt.Errorf("%s: %d points exceed %d: %w", op, total, maxRingPoints, ErrBadArgument)
		}
	}
	type pt struct {
		h uint64
		n int32
	}
	pts := make([]pt, 0, total)
	buf := make([]byte, 0, 64)
	for i, name := range names {
		for k := 0; k < counts[i]; k++ {
			buf = append(append(append(buf[:0], name...), '#'), strconv.Itoa(k)...)
			pts = append(pts, pt{Hash(string(buf)), int32(i)})
		}
	}
	// Ties (astronomically rare) are broken by node index so that the ring
	// is the same whatever the input order of equal hashes.
	slices.SortFunc(pts, func(a, b pt) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		return int(a.n - b.n)
	})
	r := &Ring{nodes: names, weights: weights, points: make([]uint64, len(pts)), owner: make([]int32, len(pts))}
	for i, p := range pts {
		r.points[i], r.owner[i] = p.h, p.n
	}
	r.buildIndex()
	return r, nil
}

// Nodes implements Strategy.
func (r *Ring) Nodes() []string { return r.nodes }

// Points returns the number of points on the ring.
func (r *Ring) Points() int { return len(r.points) }

// buildIndex fills the bucket index: 2^k buckets with k such that there
// is about one point per bucket.
func (r *Ring) buildIndex() {
	k := uint(1)
	for (1<<k) < len(r.points) && k < 24 {
		k++
	}
	r.shift = 64 - k
	r.index = make([]uint32, (1<<k)+1)
	p := 0
	for b := range r.index {
		for p < len(r.points) && r.points[p]>>r.shift < uint64(b) {
			p++
		}
		r.index[b] = uint32(p)
	}
}

// search returns the index of the first point ≥ h, wrapping to 0.
func (r *Ring) search(h uint64) int {
	b := h >> r.shift
	lo, hi := int(r.index[b]), int(r.index[b+1])
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.points[m] < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(r.points) {
		return 0
	}
	return lo
}

// Lookup implements Strategy; it never fails.
func (r *Ring) Lookup(key string) (int, error) {
	return int(r.owner[r.search(Hash(key))]), nil
}

// Replicas appends to dst the indexes of n distinct nodes for key, walking
// clockwise from the key's point: the first is Lookup's answer. n larger
// than the node count is an error; dst may be reused to avoid allocation.
func (r *Ring) Replicas(key string, n int, dst []int) ([]int, error) {
	if n < 1 || n > len(r.nodes) {
		return dst, fmt.Errorf("shard.Ring.Replicas: n=%d with %d nodes: %w", n, len(r.nodes), ErrBadArgument)
	}
	start := len(dst)
	i := r.search(Hash(key))
	for steps := 0; len(dst)-start < n && steps < len(r.points); steps++ {
		o := int(r.owner[i])
		if !slices.Contains(dst[start:], o) {
			dst = append(dst, o)
		}
		if i++; i == len(r.points) {
			i = 0
		}
	}
	return dst, nil
}
