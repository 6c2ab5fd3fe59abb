package shard

import (
	"cmp"
	"fmt"
	"slices"
)

// Span is one range of a RangeStrategy: keys k with Lo ≤ k < Hi belong to
// Node.
type Span[K cmp.Ordered] struct {
	Lo, Hi K
	Node   string
}

// RangeStrategy assigns ordered keys to contiguous spans (range sharding:
// ranges keep related keys together and allow range scans, at the price of
// hot ranges). It is immutable and safe for concurrent use; Lookup does not
// allocate. Several spans may name the same node.
type RangeStrategy[K cmp.Ordered] struct {
	nodes  []string
	splits []K   // splits[i] is the lower bound of span i
	owner  []int // owner[i] is the node index of span i
	hi     K     // upper bound of the last span
	open   bool  // true: first span unbounded below, last unbounded above
}

// NewRangeSplits covers the whole key space: span i is
// [splits[i-1], splits[i]) with the first span unbounded below and the last
// unbounded above, so len(nodes) must be len(splits)+1 and splits strictly
// increasing.
func NewRangeSplits[K cmp.Ordered](splits []K, nodes []string) (*RangeStrategy[K], error) {
	const op = "shard.NewRangeSplits"
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%s: %w", op, ErrNoNodes)
	}
	if len(nodes) != len(splits)+1 {
		return nil, fmt.Errorf("%s: %d splits need %d nodes, got %d: %w", op, len(splits), len(splits)+1, len(nodes), ErrBadRanges)
	}
	for i := 1; i < len(splits); i++ {
		if !(cmp.Less(splits[i-1], splits[i])) {
			return nil, fmt.Errorf("%s: split %d (%v) not above split %d (%v): %w", op, i, splits[i], i-1, splits[i-1], ErrBadRanges)
		}
	}
	spans := make([]Span[K], len(nodes))
	for i := range nodes {
		spans[i].Node = nodes[i]
		if i > 0 {
			spans[i].Lo = splits[i-1]
		}
		if i < len(splits) {
			spans[i].Hi = splits[i]
		}
	}
	r, err := build(op, spans)
	if err != nil {
		return nil, err
	}
	r.open = true
	return r, nil
}

// NewRange builds a strategy from explicit spans, which must be sorted,
// non-empty (Lo < Hi) and contiguous (each Hi equal to the next Lo): an
// overlap or a gap is an error wrapping ErrBadRanges. Keys below the first
// Lo or at or above the last Hi belong to no shard (ErrNoShard).
func NewRange[K cmp.Ordered](spans []Span[K]) (*RangeStrategy[K], error) {
	const op = "shard.NewRange"
	if len(spans) == 0 {
		return nil, fmt.Errorf("%s: %w", op, ErrNoNodes)
	}
	for i, s := range spans {
		if !cmp.Less(s.Lo, s.Hi) {
			return nil, fmt.Errorf("%s: span %d [%v, %v) is empty: %w", op, i, s.Lo, s.Hi, ErrBadRanges)
		}
		if i > 0 {
			switch c := cmp.Compare(spans[i-1].Hi, s.Lo); {
			case c > 0:
				return nil, fmt.Errorf("%s: span %d overlaps span %d at %v: %w", op, i, i-1, s.Lo, ErrBadRanges)
			case c < 0:
				return nil, fmt.Errorf("%s: gap [%v, %v) between spans %d and %d: %w", op, spans[i-1].Hi, s.Lo, i-1, i, ErrBadRanges)
			}
		}
	}
	return build(op, spans)
}

func build[K cmp.Ordered](op string, spans []Span[K]) (*RangeStrategy[K], error) {
	r := &RangeStrategy[K]{splits: make([]K, len(spans)), owner: make([]int, len(spans)), hi: spans[len(spans)-1].Hi}
	idx := map[string]int{}
	for i, s := range spans {
		if s.Node == "" {
			return nil, fmt.Errorf("%s: span %d: %w", op, i, ErrEmptyName)
		}
		n, ok := idx[s.Node]
		if !ok {
			n = len(r.nodes)
			idx[s.Node] = n
			r.nodes = append(r.nodes, s.Node)
		}
		r.splits[i], r.owner[i] = s.Lo, n
	}
	return r, nil
}

// Nodes returns the distinct node names, in order of first appearance.
func (r *RangeStrategy[K]) Nodes() []string { return r.nodes }

// Span returns the index of the span that holds k, or an error wrapping
// ErrNoShard.
func (r *RangeStrategy[K]) Span(k K) (int, error) {
	// i = number of spans whose Lo ≤ k; the span is i-1.
	i, found := slices.BinarySearch(r.splits, k)
	if found {
		i++
	}
	if r.open {
		if i == 0 {
			i = 1 // first span is unbounded below
		}
		return i - 1, nil
	}
	if i == 0 || !cmp.Less(k, r.hi) {
		return 0, fmt.Errorf("shard.RangeStrategy: key %v outside [%v, %v): %w", k, r.splits[0], r.hi, ErrNoShard)
	}
	return i - 1, nil
}

// LookupKey returns the node index owning k.
func (r *RangeStrategy[K]) LookupKey(k K) (int, error) {
	s, err := r.Span(k)
	if err != nil {
		return 0, err
	}
	return r.owner[s], nil
}

// Spans returns a copy of the spans (for planners). With NewRangeSplits the
// first span's Lo and the last span's Hi are the zero K and mean unbounded.
func (r *RangeStrategy[K]) Spans() []Span[K] {
	out := make([]Span[K], len(r.splits))
	for i := range r.splits {
		out[i] = Span[K]{Lo: r.splits[i], Node: r.nodes[r.owner[i]]}
		if i+1 < len(r.splits) {
			out[i].Hi = r.splits[i+1]
		} else if !r.open {
			out[i].Hi = r.hi
		}
	}
	return out
}

// StringRange is a RangeStrategy over string keys; it implements Strategy.
type StringRange = RangeStrategy[string]

// Lookup implements Strategy for string keys by comparing key bytewise.
func (r *RangeStrategy[K]) Lookup(key string) (int, error) {
	k, ok := any(key).(K)
	if !ok {
		return 0, fmt.Errorf("shard.RangeStrategy.Lookup: string key on a non-string range; use LookupKey: %w", ErrBadArgument)
	}
	return r.LookupKey(k)
}

// List assigns keys by explicit membership (list sharding: region "eu" →
// node "eu-1"). Optionally a default node takes every unlisted key.
// Immutable and safe for concurrent use.
type List struct {
	nodes []string
	of    map[string]int
	def   int // -1: no default
}

// NewList builds a list strategy from node → values. A value listed under
// two nodes, a node without values, or a default that is not a node, is an
// error. def may be "" for no default.
func NewList(lists map[string][]string, def string) (*List, error) {
	const op = "shard.NewList"
	names := make([]string, 0, len(lists))
	for n := range lists {
		names = append(names, n)
	}
	slices.Sort(names) // deterministic indexes
	if err := checkNames(op, names); err != nil {
		return nil, err
	}
	l := &List{nodes: names, of: map[string]int{}, def: -1}
	for i, n := range names {
		if len(lists[n]) == 0 {
			return nil, fmt.Errorf("%s: node %q has no values: %w", op, n, ErrBadList)
		}
		for _, v := range lists[n] {
			if j, dup := l.of[v]; dup {
				return nil, fmt.Errorf("%s: value %q listed under %q and %q: %w", op, v, names[j], n, ErrBadList)
			}
			l.of[v] = i
		}
	}
	if def != "" {
		i := slices.Index(names, def)
		if i < 0 {
			return nil, fmt.Errorf("%s: default %q is not a node: %w", op, def, ErrBadList)
		}
		l.def = i
	}
	return l, nil
}

// Nodes implements Strategy (names sorted).
func (l *List) Nodes() []string { return l.nodes }

// Lookup implements Strategy.
func (l *List) Lookup(key string) (int, error) {
	if i, ok := l.of[key]; ok {
		return i, nil
	}
	if l.def >= 0 {
		return l.def, nil
	}
	return 0, fmt.Errorf("shard.List: key %q: %w", key, ErrNoShard)
}
