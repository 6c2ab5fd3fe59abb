package shard

import (
	"fmt"
	"math"
)

// Strategy maps a key to one of a fixed, ordered set of nodes. Lookup
// returns the index into Nodes of the owner of key, or an error (wrapping
// ErrNoShard) when no node owns it; hash-based strategies never fail.
//
// Every Strategy of this package is immutable after construction and safe
// for concurrent use; Lookup does not allocate.
type Strategy interface {
	// Nodes returns the node names in index order. Callers must not
	// modify the slice.
	Nodes() []string
	// Lookup returns the index in Nodes of the node that owns key.
	Lookup(key string) (int, error)
}

// Node is a named node with a relative weight. A zero Weight means 1.
type Node struct {
	// Name identifies the node; it must be unique and non-empty.
	Name string
	// Weight is the node's relative share of keys; 0 means 1, and
	// otherwise it must be finite and > 0.
	Weight float64
}

// Names turns plain names into nodes of weight 1.
func Names(names ...string) []Node {
	out := make([]Node, len(names))
	for i, n := range names {
		out[i] = Node{Name: n, Weight: 1}
	}
	return out
}

// checkNames validates a list of node names: non-empty list, non-empty and
// unique names.
func checkNames(op string, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("%s: %w", op, ErrNoNodes)
	}
	seen := make(map[string]struct{}, len(names))
	for i, n := range names {
		if n == "" {
			return fmt.Errorf("%s: node %d: %w", op, i, ErrEmptyName)
		}
		if _, dup := seen[n]; dup {
			return fmt.Errorf("%s: %q: %w", op, n, ErrDuplicateNode)
		}
		seen[n] = struct{}{}
	}
	return nil
}

// checkNodes validates nodes and returns their names and weights (0 → 1).
func checkNodes(op string, nodes []Node) (names []string, weights []float64, err error) {
	names = make([]string, len(nodes))
	weights = make([]float64, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
		w := n.Weight
		if w == 0 {
			w = 1
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, nil, fmt.Errorf("%s: node %q weight %v: %w", op, n.Name, n.Weight, ErrBadWeight)
		}
		weights[i] = w
	}
	if err := checkNames(op, names); err != nil {
		return nil, nil, err
	}
	return names, weights, nil
}

// Modulo is hash(key) mod N. It balances perfectly but moves about N/(N+1)
// of all keys when a node is added; use it only for a fixed node count (the
// logical shards of a Map are the intended use).
type Modulo struct{ nodes []string }

// NewModulo returns a Modulo strategy over nodes.
func NewModulo(nodes []string) (*Modulo, error) {
	if err := checkNames("shard.NewModulo", nodes); err != nil {
		return nil, err
	}
	return &Modulo{nodes: append([]string(nil), nodes...)}, nil
}

// Nodes implements Strategy.
func (m *Modulo) Nodes() []string { return m.nodes }

// Lookup implements Strategy; it never fails.
func (m *Modulo) Lookup(key string) (int, error) {
	return int(Hash(key) % uint64(len(m.nodes))), nil
}

// Jump is Lamping and Veach's jump consistent hash ("A Fast, Minimal Memory,
// Consistent Hash Algorithm", 2014) over Hash(key). Adding a node at the end
// moves exactly the keys the new node takes (ideal 1/(N+1)); nodes can only
// be added or removed at the end of the list, so it suits numbered shards.
type Jump struct{ nodes []string }

// NewJump returns a jump-hash strategy over nodes.
func NewJump(nodes []string) (*Jump, error) {
	if err := checkNames("shard.NewJump", nodes); err != nil {
		return nil, err
	}
	if len(nodes) > math.MaxInt32 {
		return nil, fmt.Errorf("shard.NewJump: %d nodes: %w", len(nodes), ErrBadArgument)
	}
	return &Jump{nodes: append([]string(nil), nodes...)}, nil
}

// Nodes implements Strategy.
func (j *Jump) Nodes() []string { return j.nodes }

// Lookup implements Strategy; it never fails.
func (j *Jump) Lookup(key string) (int, error) {
	return int(JumpHash(Hash(key), int32(len(j.nodes)))), nil
}

// JumpHash is the published JumpConsistentHash function: it maps key to a
// bucket in [0, buckets). It returns -1 when buckets < 1 instead of
// panicking or looping.
func JumpHash(key uint64, buckets int32) int32 {
	if buckets < 1 {
		return -1
	}
	var b, j int64 = -1, 0
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		// key>>33 < 2^31: convert through int64, which is one instruction
		// (uint64 → float64 is a branchy sequence on amd64).
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64(int64(key>>33)+1)))
	}
	return int32(b)
}
