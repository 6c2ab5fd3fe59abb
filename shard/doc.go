// Package shard routes keys to shards and shards to servers.
//
// Strategies map a key to one of a fixed set of nodes: Modulo, Jump (jump
// consistent hash), Ring (consistent hashing with weighted virtual nodes
// and distinct-node replicas), BoundedLoad (consistent hashing with bounded
// loads), Rendezvous (weighted highest-random-weight), RangeStrategy (split
// points over any ordered key), List, and Composite (one strategy, then
// another). Every constructor validates its input and returns an error
// wrapping a package sentinel (ErrNoNodes, ErrDuplicateNode, ErrBadWeight,
// ErrBadRanges, …) instead of panicking. Strategies are immutable, safe for
// concurrent use, and do not allocate on Lookup.
//
// A Directory is a lookup table (key → shard) behind a driver (memory in
// memshard, PostgreSQL in pgshard), cached and versioned.
//
// A Map is the two-level scheme: keys hash to a fixed number of logical
// shards, and a versioned table points logical shards at physical nodes.
// Re-pointing a logical shard moves its data but never rehashes a key. A
// Router holds an immutable snapshot of the Map and swaps it atomically
// when a newer version arrives through a map store driver; Plan lists what
// moves between two maps.
//
// Scatter runs a query on many shards with bounded concurrency, per-shard
// timeouts and a partial-results policy; MergeSorted, Aggregate and
// GroupBy merge the answers correctly (k-way merge with limit pushdown,
// AVG from sums and counts, never an average of averages).
//
// Replica routing with read-your-writes lives in pgshard (it needs
// PostgreSQL's WAL positions); the session Token it uses is defined here,
// and shardhttp carries it across processes in a header or a cookie.
package shard
