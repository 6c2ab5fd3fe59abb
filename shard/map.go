package shard

import (
	"fmt"
	"slices"

	"github.com/scalekit-go/scalekit/shard/driver"
)

// Map is one immutable version of a two-level shard map: a key hashes to
// one of a fixed number of logical shards (Hash(key) mod Logical), and each
// logical shard points at a physical node. Changing where a logical shard
// lives is a new Map version; keys never rehash. The zero value is an empty
// map with no shards. A Map is safe for concurrent use.
type Map struct {
	version int64
	nodes   []string // nodes[l] is the physical node of logical shard l (writes)
	reads   []string // reads[l] serves reads of l; nil: same as nodes
}

// NewMap returns version 1 of a map with one logical shard per entry of
// nodes (nodes[l] hosts logical shard l; names may repeat).
func NewMap(nodes []string) (*Map, error) { return newMap(1, nodes) }

// NewMapVersion is NewMap with an explicit version ≥ 1, for drivers.
func NewMapVersion(version int64, nodes []string) (*Map, error) {
	return newMap(version, nodes)
}

// FromTable builds a Map from a stored table, validating it.
func FromTable(t driver.Table) (*Map, error) {
	m, err := newMap(t.Version, t.Nodes)
	if err != nil {
		return nil, err
	}
	if t.ReadNodes != nil {
		if len(t.ReadNodes) != len(t.Nodes) {
			return nil, fmt.Errorf("shard.FromTable: %d read nodes for %d shards: %w", len(t.ReadNodes), len(t.Nodes), ErrBadArgument)
		}
		for l, n := range t.ReadNodes {
			if n == "" {
				return nil, fmt.Errorf("shard.FromTable: read node of %d: %w", l, ErrEmptyName)
			}
		}
		m.reads = slices.Clone(t.ReadNodes)
	}
	return m, nil
}

// ToTable returns the stored form of m.
func (m *Map) ToTable() driver.Table {
	return driver.Table{Version: m.version, Nodes: slices.Clone(m.nodes), ReadNodes: slices.Clone(m.reads)}
}

// ReadNodeOf returns the node that serves reads of logical shard l: the
// write node unless a move has switched reads first ("" if out of range).
func (m *Map) ReadNodeOf(l int) string {
	if l < 0 || l >= len(m.nodes) {
		return ""
	}
	if m.reads != nil {
		return m.reads[l]
	}
	return m.nodes[l]
}

// LookupRead returns the logical shard of key and the node serving its
// reads.
func (m *Map) LookupRead(key string) (logical int, node string) {
	l := m.LogicalOf(key)
	return l, m.ReadNodeOf(l)
}

// SwitchReads returns the next version with the reads of logical shard l
// served by node, writes unchanged (the first half of a cut-over).
func (m *Map) SwitchReads(l int, node string) (*Map, error) {
	if l < 0 || l >= len(m.nodes) || node == "" {
		return nil, fmt.Errorf("shard.Map.SwitchReads: shard %d node %q: %w", l, node, ErrBadArgument)
	}
	reads := m.reads
	if reads == nil {
		reads = m.nodes
	}
	reads = slices.Clone(reads)
	reads[l] = node
	return &Map{version: m.version + 1, nodes: slices.Clone(m.nodes), reads: reads}, nil
}

func newMap(version int64, nodes []string) (*Map, error) {
	const op = "shard.NewMap"
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%s: %w", op, ErrNoNodes)
	}
	if version < 1 {
		return nil, fmt.Errorf("%s: version %d: %w", op, version, ErrBadArgument)
	}
	for l, n := range nodes {
		if n == "" {
			return nil, fmt.Errorf("%s: logical shard %d: %w", op, l, ErrEmptyName)
		}
	}
	return &Map{version: version, nodes: slices.Clone(nodes)}, nil
}

// Spread returns version 1 of a map with logical shards dealt round-robin
// over nodes (logical l on nodes[l mod len(nodes)]).
func Spread(logical int, nodes []string) (*Map, error) {
	if logical < 1 {
		return nil, fmt.Errorf("shard.Spread: %d logical shards: %w", logical, ErrBadArgument)
	}
	if err := checkNames("shard.Spread", nodes); err != nil {
		return nil, err
	}
	out := make([]string, logical)
	for l := range out {
		out[l] = nodes[l%len(nodes)]
	}
	return newMap(1, out)
}

// Version returns the map's version.
func (m *Map) Version() int64 { return m.version }

// Logical returns the number of logical shards.
func (m *Map) Logical() int { return len(m.nodes) }

// LogicalOf returns the logical shard of key. It panics on the zero Map
// (no shards), which is a programming error.
func (m *Map) LogicalOf(key string) int { return int(Hash(key) % uint64(len(m.nodes))) }

// NodeOf returns the physical node of logical shard l ("" if out of range).
func (m *Map) NodeOf(l int) string {
	if l < 0 || l >= len(m.nodes) {
		return ""
	}
	return m.nodes[l]
}

// Lookup returns the logical shard and physical node of key.
func (m *Map) Lookup(key string) (logical int, node string) {
	l := m.LogicalOf(key)
	return l, m.nodes[l]
}

// Table returns a copy of the logical → physical table.
func (m *Map) Table() []string { return slices.Clone(m.nodes) }

// Nodes returns the distinct physical nodes, sorted.
func (m *Map) Nodes() []string {
	out := slices.Clone(m.nodes)
	slices.Sort(out)
	return slices.Compact(out)
}

// Shards returns the logical shards hosted by node, ascending.
func (m *Map) Shards(node string) []int {
	var out []int
	for l, n := range m.nodes {
		if n == node {
			out = append(out, l)
		}
	}
	return out
}

// Repoint returns the next version with the given logical shards moved.
func (m *Map) Repoint(moves map[int]string) (*Map, error) {
	next := slices.Clone(m.nodes)
	for l, n := range moves {
		if l < 0 || l >= len(next) {
			return nil, fmt.Errorf("shard.Map.Repoint: logical shard %d of %d: %w", l, len(next), ErrBadArgument)
		}
		if n == "" {
			return nil, fmt.Errorf("shard.Map.Repoint: logical shard %d: %w", l, ErrEmptyName)
		}
		next[l] = n
	}
	var reads []string
	if m.reads != nil {
		reads = slices.Clone(m.reads)
		for l, n := range moves {
			reads[l] = n
		}
	}
	return &Map{version: m.version + 1, nodes: next, reads: reads}, nil
}

// Rebalance returns the next version spread evenly over nodes while moving
// as few logical shards as possible: shards on removed nodes and the excess
// of over-full nodes go to under-full ones, each node ending with ⌊L/N⌋ or
// ⌈L/N⌉ shards. Adding one node to N moves about L/(N+1) shards, the ideal.
func (m *Map) Rebalance(nodes []string) (*Map, error) {
	const op = "shard.Map.Rebalance"
	if err := checkNames(op, nodes); err != nil {
		return nil, err
	}
	L, N := len(m.nodes), len(nodes)
	sorted := slices.Clone(nodes)
	slices.Sort(sorted)
	// Quota: the first L mod N nodes (by current size, then name) get one
	// more, so nodes already holding more keep theirs.
	held := map[string][]int{}
	for l, n := range m.nodes {
		held[n] = append(held[n], l)
	}
	slices.SortStableFunc(sorted, func(a, b string) int { return len(held[b]) - len(held[a]) })
	quota := map[string]int{}
	for i, n := range sorted {
		quota[n] = L / N
		if i < L%N {
			quota[n]++
		}
	}
	next := slices.Clone(m.nodes)
	var free []int
	for l, n := range m.nodes { // shards of removed nodes
		if _, ok := quota[n]; !ok {
			free = append(free, l)
		}
	}
	for _, n := range sorted { // excess of over-full nodes, highest shards first
		if h := held[n]; len(h) > quota[n] {
			free = append(free, h[quota[n]:]...)
		}
	}
	slices.Sort(free)
	for _, n := range sorted {
		for len(held[n]) < quota[n] && len(free) > 0 {
			next[free[0]] = n
			held[n] = append(held[n], free[0])
			free = free[1:]
		}
	}
	return &Map{version: m.version + 1, nodes: next}, nil
}

// Move is one logical shard changing node.
type Move struct {
	Logical  int
	From, To string
}

// Plan is the difference between two maps.
type Plan struct {
	// From and To are the versions compared.
	From, To int64
	// Moves lists the logical shards whose node differs, ascending.
	Moves []Move
	// Fraction is the fraction of logical shards (hence, for a uniform
	// hash, of keys) that move: len(Moves)/Logical.
	Fraction float64
}

// PlanMoves returns the logical shards that move from cur to target. Maps
// with different logical counts are an error: the logical count is fixed
// for the life of a map.
func PlanMoves(cur, target *Map) (Plan, error) {
	if cur == nil || target == nil || len(cur.nodes) == 0 {
		return Plan{}, fmt.Errorf("shard.PlanMoves: nil or empty map: %w", ErrBadArgument)
	}
	if len(cur.nodes) != len(target.nodes) {
		return Plan{}, fmt.Errorf("shard.PlanMoves: %d vs %d logical shards: %w", len(cur.nodes), len(target.nodes), ErrBadArgument)
	}
	p := Plan{From: cur.version, To: target.version}
	for l := range cur.nodes {
		if cur.nodes[l] != target.nodes[l] {
			p.Moves = append(p.Moves, Move{Logical: l, From: cur.nodes[l], To: target.nodes[l]})
		}
	}
	p.Fraction = float64(len(p.Moves)) / float64(len(cur.nodes))
	return p, nil
}
