package memorycache

import (
	"hash/maphash"
	"unsafe"
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
		return func(k K) uint64 { return mix64(*(*uint64)(unsafe.Pointer(&k)) ^ s) }
	case int32, uint32:
		s := maphash.Comparable(seed, uint64(0)) | 1
		return func(k K) uint64 { return mix64(uint64(*(*uint32)(unsafe.Pointer(&k))) ^ s) }
	}
	return func(k K) uint64 { return maphash.Comparable(seed, k) }
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
