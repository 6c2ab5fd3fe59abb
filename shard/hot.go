package shard

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"github.com/scalekit-go/scalekit/sketch"
)

// HotTracker finds hot keys and hot shards: it counts every routed access
// per shard exactly and per key in a sketch.TopK (bounded memory). Safe
// for concurrent use.
type HotTracker struct {
	keys *sketch.TopK

	mu     sync.Mutex
	shards map[string]uint64
}

// NewHotTracker tracks the k hottest keys.
func NewHotTracker(k int) (*HotTracker, error) {
	tk, err := sketch.NewTopK(k, nil)
	if err != nil {
		return nil, fmt.Errorf("shard.NewHotTracker: %w (%w)", ErrBadArgument, err)
	}
	return &HotTracker{keys: tk, shards: map[string]uint64{}}, nil
}

// Observe records one access to key on shard.
func (h *HotTracker) Observe(key, shard string) {
	h.keys.Add(key)
	h.mu.Lock()
	h.shards[shard]++
	h.mu.Unlock()
}

// ShardLoad is one shard's share of the accesses.
type ShardLoad struct {
	Shard string
	Count uint64
	// Ratio is Count divided by the mean count over the shards seen; a
	// shard well above 1 is hot.
	Ratio float64
}

// HotReport is a snapshot of a HotTracker.
type HotReport struct {
	Keys   []sketch.TopKItem // hottest keys, most frequent first
	Shards []ShardLoad       // busiest shard first
	Total  uint64
}

// Report returns the current hot keys and per-shard loads.
func (h *HotTracker) Report() HotReport {
	r := HotReport{Keys: h.keys.List()}
	h.mu.Lock()
	for s, c := range h.shards {
		r.Shards = append(r.Shards, ShardLoad{Shard: s, Count: c})
		r.Total += c
	}
	h.mu.Unlock()
	if n := len(r.Shards); n > 0 {
		mean := float64(r.Total) / float64(n)
		for i := range r.Shards {
			r.Shards[i].Ratio = float64(r.Shards[i].Count) / mean
		}
	}
	slices.SortFunc(r.Shards, func(a, b ShardLoad) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Shard, b.Shard)
	})
	return r
}

// Decay halves the key counts (see sketch.TopK.Decay) and the shard counts.
func (h *HotTracker) Decay() {
	h.keys.Decay()
	h.mu.Lock()
	for s := range h.shards {
		h.shards[s] /= 2
	}
	h.mu.Unlock()
}
