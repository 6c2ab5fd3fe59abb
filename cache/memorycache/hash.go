package memorycache

import (
	"hash/maphash"
	"unsafe"

	"github.com/scalekit-go/scalekit/internal/mix"
)

// hasherFor returns a fast hash function for K: strings and fixed-size
// integers get specialised paths that do not allocate; other comparable
// types go through maphash.Comparable.
func hasherFor[K comparable](seed maphash.Seed) func(K) uint64 {
	var zero K
	switch any(zero).(type) {
	case string:
		return func(k K) uint64 { return maphash.String(seed, *(*string)(unsafe.Pointer(&k))) }
	case int, uint, int64, uint64, uintptr:
		s := maphash.Comparable(seed, uint64(0)) | 1
		return func(k K) uint64 { return mix.SplitMix64(*(*uint64)(unsafe.Pointer(&k)) ^ s) }
	case int32, uint32:
		s := maphash.Comparable(seed, uint64(0)) | 1
		return func(k K) uint64 { return mix.SplitMix64(uint64(*(*uint32)(unsafe.Pointer(&k))) ^ s) }
	}
	return func(k K) uint64 { return maphash.Comparable(seed, k) }
}
