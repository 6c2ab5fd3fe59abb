package sketch

import (
	"math/rand"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"
)

// bloomhash.go sets exactly the bits bits-and-blooms does, for every
// key length around the 16-byte block boundaries and for many m and k.
func TestBloomHashMatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for n := 0; n <= 100; n++ {
		for trial := 0; trial < 20; trial++ {
			key := make([]byte, n)
			rng.Read(key)
			m, k := uint64(1+rng.Intn(1<<20)), uint64(1+rng.Intn(MaxBloomHashes))
			want := BloomLocations(nil, key, m, k)
			h := bloomBaseHashes(key)
			for i := uint64(0); i < k; i++ {
				if got := bloomLocation(h, i) % m; got != want[i] {
					t.Fatalf("len %d, m=%d k=%d: location %d = %d, library %d", n, m, k, i, got, want[i])
				}
			}
		}
	}
	// And a filter built by the library tests the same keys present.
	lib := bloom.New(10_000, 7)
	b, _ := NewBloomWithSize(10_000, 7)
	for i := 0; i < 500; i++ {
		key := []byte{byte(i), byte(i >> 8), 'k'}
		lib.Add(key)
		b.Add(key)
	}
	got, want := b.Words(), lib.BitSet().Words()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("word %d = %x, library %x", i, got[i], want[i])
		}
	}
}
