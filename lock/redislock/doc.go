// Package redislock holds the Redis backends of package lock.
//
// Driver runs on one Redis deployment through redis.UniversalClient
// (standalone, Sentinel or Cluster): a lease is a key written with
// SET NX PX, renewed and released by Lua scripts that check the owner, and
// its fencing token comes from a per-key INCR counter in the same hash slot.
// With AOF persistence (appendfsync always) tokens keep increasing across a
// restart of Redis. Every operation is one round trip. It is fit for
// correctness when writes are fenced (see Fence and lock.SQLFence) and the
// Redis deployment does not lose acknowledged writes; a Sentinel failover
// to a replica that missed the last writes can hand a lock out twice and
// repeat tokens, as with any asynchronously replicated store.
//
// Redlock runs the Redlock algorithm over several independent Redis
// servers and survives the loss of a minority of them; it is
// efficiency-grade (see Redlock).
//
// Fence guards a Redis value with fencing tokens in a Lua script, so that a
// holder whose lease was lost cannot overwrite a newer holder's write.
package redislock
