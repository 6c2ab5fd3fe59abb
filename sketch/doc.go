// Package sketch holds probabilistic data structures that answer questions
// about huge streams of keys in small, fixed memory, trading exactness for a
// stated error bound:
//
//   - Bloom: set membership ("is this username taken?"). Test never says
//     "absent" for a key that was added; it says "present" for a key never
//     added with probability about the false-positive rate the filter was
//     sized for (NewBloom(n, rate)). Built on bits-and-blooms/bloom/v3.
//   - HyperLogLog: distinct counting (daily active users, unique visitors)
//     with a relative standard error of 1.04/√(2^p), 0.81% at the default
//     precision 14, in at most 16 KiB. Built on axiomhq/hyperloglog.
//   - CountMin: per-key frequencies. Estimates never undercount and, with
//     probability at least 1−δ, overcount by at most ε·N where N is the sum
//     of all adds; NewCountMin(ε, δ) sizes it. Adds use conservative update.
//   - TopK: the k most frequent keys of a stream (heavy hitters, hot-key
//     detection), a CountMin plus a min-heap of k keys.
//
// Every sketch is safe for concurrent use. Sketches of the same shape merge
// (Bloom by OR, HyperLogLog by register maximum, CountMin and TopK by
// summing counters), so each instance of a service can keep its own and a
// reporter can combine them. Every sketch encodes to a versioned,
// checksummed binary form (MarshalBinary); decoders reject
// truncated, damaged or mismatched input with errors wrapping ErrCorrupt or
// ErrUnsupportedVersion, never a panic and never a wrong sketch. Bad
// parameters give errors wrapping ErrInvalidParameter, and merging
// sketches of different shapes gives ErrIncompatible.
//
// When several processes must see one filter or one distinct count live,
// rather than merging copies, use package sketch/redissketch: a Bloom
// filter whose bits live in Redis (compatible bit for bit with Bloom) and
// a HyperLogLog on Redis's PFADD, PFCOUNT and PFMERGE.
package sketch
