package shard

import (
	"math/bits"

	"github.com/scalekit-go/scalekit/internal/mix"
)

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
	return mix.SplitMix64(h)
}

// hash2 combines a key hash with a per-node seed (rendezvous scores).
func hash2(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^0x9e3779b97f4a7c15, b|1)
	return mix.SplitMix64(hi ^ lo ^ b)
}
