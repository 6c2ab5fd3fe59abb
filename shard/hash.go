package shard

import "math/bits"

// Hash is the 64-bit key hash every strategy of this package uses: FNV-1a
// over the key's bytes followed by the SplitMix64 finalizer, which spreads
// FNV's weak low bits. It is deterministic across processes and versions
// (routers on different machines agree), allocates nothing, and is not
// cryptographic: keys chosen by an adversary can collide.
func Hash(key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return mix64(h)
}

// mix64 is the SplitMix64 finalizer, a bijection on uint64.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}

// hash2 combines a key hash with a per-node seed (rendezvous scores).
func hash2(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^0x9e3779b97f4a7c15, b|1)
	return mix64(hi ^ lo ^ b)
}
