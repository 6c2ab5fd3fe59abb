package sketch

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	"github.com/scalekit-go/scalekit/internal/mix"
)

// The Count-Min and Top-K sketches hash keys with hash64, a small
// multiply-fold hash owned by this package. It is part of the encoding
// format: sketches built by different processes (or releases) must place a
// key in the same counters for Merge and UnmarshalBinary to make sense, so
// it must never change within a format version.

const (
	hashK0 = 0x9e3779b97f4a7c15
	hashK1 = 0xbf58476d1ce4e5b9
	hashK2 = 0x94d049bb133111eb
)

// fold multiplies a and b as 128-bit numbers and xors the halves: a cheap,
// strong mixing step.
func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hash64 returns the 64-bit hash of b.
func hash64(b []byte) uint64 {
	h := uint64(len(b)) * hashK0
	for len(b) >= 16 {
		h = fold(h^binary.LittleEndian.Uint64(b)^hashK1, binary.LittleEndian.Uint64(b[8:])^hashK2)
		b = b[16:]
	}
	if len(b) >= 8 {
		h = fold(h^binary.LittleEndian.Uint64(b)^hashK1, hashK2)
		b = b[8:]
	}
	if len(b) > 0 {
		var t uint64
		for i, c := range b {
			t |= uint64(c) << (8 * i)
		}
		h = fold(h^t^hashK2, hashK1)
	}
	return mix.SplitMix64(h)
}

// hashString is hash64 of the bytes of s, without copying them.
func hashString(s string) uint64 { return hash64(stringBytes(s)) }

// stringBytes views s as a byte slice without copying. The slice must only
// be read (the hash functions and the Bloom and HyperLogLog libraries only
// read their input and do not retain it).
func stringBytes(s string) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
