package cache

import (
	"fmt"

	"github.com/scalekit-go/scalekit/cache/memorycache"
)

// NewInMemory returns a Cache over a new in-process store of at most
// capacity entries (memorycache, S3-FIFO eviction, per-entry TTL): the
// local cache in one call. The store runs on opts.Clock. For a cost-bounded
// store, another eviction policy or metrics of the store itself, build a
// memorycache.Store and use NewLocal.
func NewInMemory[K comparable, V any](capacity int, opts *Options[K, V]) (*Cache[K, V], error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("cache: NewInMemory capacity %d must be positive: %w", capacity, memorycache.ErrInvalidCapacity)
	}
	var mo memorycache.Options[K, Entry[V]]
	mo.MaxEntries = capacity
	if opts != nil {
		mo.Clock = opts.Clock
	}
	s, err := memorycache.New(&mo)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return NewLocal(s, opts)
}
