// Package idgen generates unique 64-bit IDs for distributed systems, with
// two generators that make opposite trade-offs.
//
// Snowflake needs no coordination on the hot path: each ID packs a
// timestamp, a node id and a per-tick sequence (Twitter's scheme). IDs are
// roughly time-ordered across nodes and strictly increasing per generator,
// and Decode recovers when and where an ID was made. The bit split is a
// Layout: TwitterLayout (41 time bits at 1 ms, 10 node bits, 12 sequence
// bits: 4,096 IDs per ms per node, 69 years) or LongLivedLayout (39/16/8 at
// 10 ms, Sonyflake-like: 65,536 nodes, 174 years), or one of your own,
// validated by NewSnowflake. Layout.MaxRate states the cap; past it Next
// waits for the next tick. A clock that steps backwards is handled by a
// BackwardsPolicy: wait (bounded), fail with ErrClockBackwards, or borrow
// from the future (bounded). No policy ever issues a duplicate or an ID
// smaller than an earlier one of the same generator.
//
// Node ids must be unique among live generators. Assign them by
// configuration with StaticNodeIDs, or lease them from a shared engine with
// AcquireNode and a driver.NodeIDs backend (memidgen here; the lock-based
// drivers in package lock/…): the lease is renewed in the background, and a
// Snowflake bound to a lost lease stops with ErrNodeLeaseLost before another
// process can take its id over.
//
// Segment (a ticket server, or hi-lo) hands out dense IDs 1, 2, 3, … from
// blocks reserved in a shared source: a PostgreSQL row (pgidgen), a Redis
// counter (redisidgen) or memory (memidgen). One round trip reserves a
// block; the next block is fetched in the background before the current
// one runs out, so Next is one atomic add in steady state. Processes that
// share a source never hand out the same ID; a crash loses the unused rest
// of a block, never reuses one.
//
// EncodeBase62 and EncodeBase32 (Crockford) turn IDs into short URL-safe or
// human-friendly strings; their decoders reject bad input with errors
// wrapping ErrInvalidEncoding.
//
// Which to use: Snowflake for high-rate IDs that should sort by time and
// must not depend on a database being up; Segment for short, dense IDs
// (URL shorteners, order numbers) where a shared counter is acceptable.
package idgen
