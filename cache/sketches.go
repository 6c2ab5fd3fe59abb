package cache

import (
	"math/rand/v2"

	"github.com/scalekit-go/scalekit/sketch"
)

// BloomGuard returns an Options.Guard backed by f, a Bloom filter of every
// key that exists in the source of truth: a key f has never seen is
// answered ErrNotFound by GetOrLoad without touching the store or the
// loader (one Bloom.Test, no allocation for string keys), which stops floods
// of lookups for ids that do not exist from reaching the database. A key
// f reports as present (including its rare false positives) goes through
// the normal path.
//
// The filter must hold every existing key: add a key to f before the
// source of truth starts returning it (creations made through this Cache,
// such as WriteThrough, are not added for you), or GetOrLoad will hide
// it. keyString maps keys to the bytes added to f; nil means the key
// itself for string keys and fmt.Sprint otherwise. f is typically filled
// at start-up from the source and shared by Clone or UnmarshalBinary, or
// replaced by a redissketch.Bloom Snapshot on a timer.
//
// BloomGuard panics if f is nil (a programming error).
func BloomGuard[K comparable](f *sketch.Bloom, keyString func(K) string) func(K) bool {
	if f == nil {
		panic("cache: BloomGuard with a nil filter")
	}
	if keyString == nil {
		keyString = keyStringer[K]("")
	}
	return func(key K) bool { return f.TestString(keyString(key)) }
}

// HotKeys returns the keys read most often, most frequent first, when
// Options.HotKeys is set (nil otherwise). Counts are estimates that never
// undercount; see sketch.TopK.
func (c *Cache[K, V]) HotKeys() []sketch.TopKItem {
	if c.o.HotKeys == nil {
		return nil
	}
	return c.o.HotKeys.List()
}

// countRead feeds a read of key to the hot-key detector, if any, sampled
// by Options.HotKeysSample.
func (c *Cache[K, V]) countRead(key K) {
	if c.o.HotKeys == nil {
		return
	}
	if n := c.o.HotKeysSample; n > 1 {
		if rand.IntN(n) != 0 {
			return
		}
		c.o.HotKeys.AddN(c.hotKeyString(key), uint64(n))
		return
	}
	c.o.HotKeys.Add(c.hotKeyString(key))
}
