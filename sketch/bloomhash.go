package sketch

import (
	"encoding/binary"
	"math/bits"

	"github.com/scalekit-go/scalekit/internal/mix"
)

// Bloom's bit positions must be those of bits-and-blooms/bloom/v3, since
// filters and their encodings are interchangeable with it (Words,
// BloomLocations). That library derives a key's positions from four
// 64-bit values: the two halves of MurmurHash3 x64-128 (seed 0) of the key,
// and the two halves of the same hash of the key followed by one byte 1;
// position i is h[i%2] + i*h[2+((i+i%2)%4)/2]. This file computes them
// without allocating (MurmurHash3 is Austin Appleby's public-domain
// algorithm, written here from its specification), so Bloom hashes a key
// once per call. TestBloomHashMatchesLibrary checks every position against
// the library's own BloomLocations.

const (
	murmurC1 = 0x87c37b91114253d5
	murmurC2 = 0x4cf5ad432745937f
)

// bloomBaseHashes returns the four values a key's positions come from.
// Both hashes share the key's full blocks, so those are mixed once.
func bloomBaseHashes(key []byte) [4]uint64 {
	var h1, h2 uint64
	full := len(key) &^ 15
	for i := 0; i < full; i += 16 {
		h1, h2 = murmurBlock(h1, h2, binary.LittleEndian.Uint64(key[i:]), binary.LittleEndian.Uint64(key[i+8:]))
	}
	var tail [16]byte
	t := copy(tail[:], key[full:])
	a1, a2 := murmurFinish(h1, h2, &tail, t, len(key))
	tail[t] = 1 // the second hash: the key followed by the byte 1
	b1, b2 := murmurFinish(h1, h2, &tail, t+1, len(key)+1)
	return [4]uint64{a1, a2, b1, b2}
}

// bloomLocation is the i-th position (before reduction modulo m).
func bloomLocation(h [4]uint64, i uint64) uint64 {
	return h[i%2] + i*h[2+(((i+(i%2))%4)/2)]
}

// murmurFinish ends MurmurHash3 x64-128 (seed 0) from the state after the
// full blocks: the first t bytes of tail (t ≤ 16; 16 is one more block)
// and the total length n.
func murmurFinish(h1, h2 uint64, tail *[16]byte, t, n int) (uint64, uint64) {
	if t == 16 {
		h1, h2 = murmurBlock(h1, h2, binary.LittleEndian.Uint64(tail[:]), binary.LittleEndian.Uint64(tail[8:]))
		t = 0
	}
	if t > 8 {
		k2 := binary.LittleEndian.Uint64(tail[8:]) & (1<<(8*uint(t-8)) - 1)
		k2 *= murmurC2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= murmurC1
		h2 ^= k2
	}
	if t > 0 {
		k1 := binary.LittleEndian.Uint64(tail[:])
		if t < 8 {
			k1 &= 1<<(8*uint(t)) - 1
		}
		k1 *= murmurC1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= murmurC2
		h1 ^= k1
	}
	h1 ^= uint64(n)
	h2 ^= uint64(n)
	h1 += h2
	h2 += h1
	h1, h2 = mix.Murmur64(h1), mix.Murmur64(h2)
	h1 += h2
	h2 += h1
	return h1, h2
}

// murmurBlock mixes one 16-byte block (k1, k2) into the state.
func murmurBlock(h1, h2, k1, k2 uint64) (uint64, uint64) {
	k1 *= murmurC1
	k1 = bits.RotateLeft64(k1, 31)
	k1 *= murmurC2
	h1 ^= k1
	h1 = bits.RotateLeft64(h1, 27)
	h1 += h2
	h1 = h1*5 + 0x52dce729
	k2 *= murmurC2
	k2 = bits.RotateLeft64(k2, 33)
	k2 *= murmurC1
	h2 ^= k2
	h2 = bits.RotateLeft64(h2, 31)
	h2 += h1
	h2 = h2*5 + 0x38495ab5
	return h1, h2
}
