// Package mix holds the 64-bit integer finalisers the packages use to
// spread hash bits: bijections on uint64 whose every input bit affects
// every output bit.
package mix

// SplitMix64 is the finaliser of the SplitMix64 generator (Steele, Lea
// and Flood, 2014).
func SplitMix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Murmur64 is MurmurHash3's 64-bit finaliser (fmix64).
func Murmur64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
