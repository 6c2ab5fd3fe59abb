package shard

import (
	"cmp"
	"container/heap"
	"fmt"
	"math"
	"slices"
)

// PushdownLimit returns the LIMIT each shard must apply for a global
// ORDER BY … LIMIT limit OFFSET offset: offset+limit rows, since any of
// them may come from one shard. Shards must not apply the offset.
func PushdownLimit(offset, limit int) int { return offset + limit }

// MergeSorted k-way merges lists, each already sorted by compare, and
// returns rows [offset, offset+limit) of the merged order (limit < 0: all
// rows after offset). Equal rows keep the order of their lists, so a total
// compare (ending in a unique key) gives the same answer as one database.
func MergeSorted[T any](lists [][]T, compare func(a, b T) int, offset, limit int) ([]T, error) {
	if offset < 0 || compare == nil {
		return nil, fmt.Errorf("shard.MergeSorted: offset %d: %w", offset, ErrBadArgument)
	}
	h := &mergeHeap[T]{cmp: compare}
	total := 0
	for i, l := range lists {
		total += len(l)
		if len(l) > 0 {
			h.items = append(h.items, cursor{list: i})
		}
	}
	h.lists = lists
	heap.Init(h)
	want := total
	if limit >= 0 {
		want = min(total, offset+limit)
	}
	out := make([]T, 0, max(0, want-offset))
	for n := 0; n < want && h.Len() > 0; n++ {
		c := &h.items[0]
		if n >= offset {
			out = append(out, lists[c.list][c.pos])
		}
		c.pos++
		if c.pos == len(lists[c.list]) {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
	}
	return out, nil
}

type cursor struct{ list, pos int }

type mergeHeap[T any] struct {
	items []cursor
	lists [][]T
	cmp   func(a, b T) int
}

func (h *mergeHeap[T]) Len() int { return len(h.items) }
func (h *mergeHeap[T]) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if c := h.cmp(h.lists[a.list][a.pos], h.lists[b.list][b.pos]); c != 0 {
		return c < 0
	}
	return a.list < b.list
}
func (h *mergeHeap[T]) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *mergeHeap[T]) Push(x any)    { h.items = append(h.items, x.(cursor)) }
func (h *mergeHeap[T]) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// Number is the value type of aggregates.
type Number interface {
	~int64 | ~float64
}

// Partial is one shard's aggregate over a column v, as SQL computes it:
// Rows is COUNT(*), Count is COUNT(v) (non-null values), Sum is SUM(v),
// and Min/Max are valid only when Count > 0. Partials merge exactly, and
// AVG is computed from the merged Sum and Count — never as an average of
// per-shard averages, which weighs a 1-row shard like a 1M-row one.
type Partial[N Number] struct {
	Rows, Count int64
	Sum, Min    N
	Max         N
}

// Merge combines two partials.
func (p Partial[N]) Merge(q Partial[N]) Partial[N] {
	switch {
	case q.Count == 0:
	case p.Count == 0:
		p.Min, p.Max = q.Min, q.Max
	default:
		p.Min, p.Max = min(p.Min, q.Min), max(p.Max, q.Max)
	}
	p.Rows += q.Rows
	p.Count += q.Count
	p.Sum += q.Sum
	return p
}

// Avg returns Sum/Count, false when there are no values (SQL NULL).
func (p Partial[N]) Avg() (float64, bool) {
	if p.Count == 0 {
		return math.NaN(), false
	}
	return float64(p.Sum) / float64(p.Count), true
}

// Aggregate merges per-shard partials.
func Aggregate[N Number](parts []Partial[N]) Partial[N] {
	var out Partial[N]
	for _, p := range parts {
		out = out.Merge(p)
	}
	return out
}

// Group is one group of a GROUP BY result.
type Group[K cmp.Ordered, N Number] struct {
	Key K
	Partial[N]
}

// GroupBy merges per-shard GROUP BY results (the same group may appear on
// every shard) and returns the groups sorted by key.
func GroupBy[K cmp.Ordered, N Number](parts [][]Group[K, N]) []Group[K, N] {
	acc := map[K]Partial[N]{}
	for _, part := range parts {
		for _, g := range part {
			acc[g.Key] = acc[g.Key].Merge(g.Partial)
		}
	}
	out := make([]Group[K, N], 0, len(acc))
	for k, p := range acc {
		out = append(out, Group[K, N]{Key: k, Partial: p})
	}
	slices.SortFunc(out, func(a, b Group[K, N]) int { return cmp.Compare(a.Key, b.Key) })
	return out
}
