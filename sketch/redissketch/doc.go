// Package redissketch keeps sketches in Redis, so that every instance of a
// service reads and updates one shared filter or counter live instead of
// merging private copies.
//
// Bloom is a Bloom filter whose bits are a Redis string. It uses the hashing
// and bit layout of sketch.Bloom, so a filter built locally can be merged
// into Redis (Merge) and a Redis filter copied into a local one (Snapshot)
// for lock-free reads. Each Add, Test and TestAndAdd is one Lua script call,
// one round trip, atomic in Redis; AddMany and TestMany do a batch in one
// call. The filter's shape (bits m, hashes k) is stored next to the bits, and
// an instance configured with another shape gets an error wrapping
// sketch.ErrIncompatible instead of silently corrupting the filter.
//
// HyperLogLog is Redis's own HyperLogLog (PFADD, PFCOUNT, PFMERGE; 2^14
// registers, standard error 0.81%, at most 12 KiB), with a Merge that also
// works across Redis Cluster hash slots.
//
// Both take a redis.UniversalClient (standalone, Sentinel or Cluster) on
// Redis 6.2 or later (the Bloom scripts use BITFIELD_RO). All
// keys of one sketch share a hash tag, prefix{name}, so they live in one
// Cluster slot; a name with braces of its own is tagged by a digest,
// prefix{#<hex>}name, and a KeyPrefix whose first hash tag is empty ("{}")
// is refused with sketch.ErrInvalidParameter. Redis errors are returned wrapped with the operation and key.
// Both types are safe for concurrent use and do no I/O in their
// constructors.
package redissketch
