// Package redisidgen is the Redis segment source for idgen.Segment: one
// counter key per sequence, advanced with INCRBY, one round trip per block.
//
// Durability is Redis's: with the default snapshotting, a crash can roll
// the counter back and hand out a block twice. Run the Redis that backs
// IDs with appendonly yes and appendfsync always (or everysec, accepting
// up to a second of rollback), or use pgidgen.
//
// Each block is one INCRBY on one key, so sequence names and prefixes may
// contain braces (Redis Cluster hash tags) freely (tested on a three-master
// Cluster).
package redisidgen
