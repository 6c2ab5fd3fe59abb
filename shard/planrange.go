package shard

import (
	"cmp"
	"fmt"
	"slices"
)

// RangeMove is a key range [Lo, Hi) whose owner changes between two range
// layouts.
type RangeMove[K cmp.Ordered] struct {
	Lo, Hi   K
	From, To string
}

// PlanRanges returns the ranges whose node differs between cur and target,
// two bounded, contiguous layouts (as accepted by NewRange) covering the
// same [Lo, Hi). Adjacent moved pieces with the same From and To are
// merged.
func PlanRanges[K cmp.Ordered](cur, target []Span[K]) ([]RangeMove[K], error) {
	const op = "shard.PlanRanges"
	if _, err := NewRange(cur); err != nil {
		return nil, fmt.Errorf("%s: current: %w", op, err)
	}
	if _, err := NewRange(target); err != nil {
		return nil, fmt.Errorf("%s: target: %w", op, err)
	}
	if cur[0].Lo != target[0].Lo || cur[len(cur)-1].Hi != target[len(target)-1].Hi {
		return nil, fmt.Errorf("%s: layouts cover different key spaces: %w", op, ErrBadRanges)
	}
	var cuts []K
	for _, s := range cur {
		cuts = append(cuts, s.Lo, s.Hi)
	}
	for _, s := range target {
		cuts = append(cuts, s.Lo, s.Hi)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	owner := func(spans []Span[K], k K) string {
		i, _ := slices.BinarySearchFunc(spans, k, func(s Span[K], k K) int {
			if cmp.Less(k, s.Lo) {
				return 1
			}
			if !cmp.Less(k, s.Hi) {
				return -1
			}
			return 0
		})
		return spans[i].Node
	}
	var out []RangeMove[K]
	for i := 0; i+1 < len(cuts); i++ {
		from, to := owner(cur, cuts[i]), owner(target, cuts[i])
		if from == to {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Hi == cuts[i] && out[n-1].From == from && out[n-1].To == to {
			out[n-1].Hi = cuts[i+1]
			continue
		}
		out = append(out, RangeMove[K]{Lo: cuts[i], Hi: cuts[i+1], From: from, To: to})
	}
	return out, nil
}
