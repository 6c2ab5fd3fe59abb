// Package redisqueue is the Redis Streams backend of package queue, on a
// standalone server, Sentinel or Cluster (through redis.UniversalClient).
//
// # Layout
//
// Every key of a topic starts with "<prefix>{<topic>}:", so the topic is
// the Cluster hash tag and all of a topic's keys share one slot: every
// operation is one Lua script on one node. Topic names may therefore not
// contain braces (ErrBraceInName). Each subscription has a stream per
// priority level in use with a consumer group; publishing appends one
// entry per subscription (fan-out). Receive reads new entries with
// XREADGROUP, highest level first, and records each lease in a sorted
// set scored by its deadline; Ack removes the entry with XACK and XDEL.
//
// # Durability
//
// Publish returns once the script that appended the entries has run:
// the messages are in the server's memory, and on disk or on replicas as
// far as its appendonly/appendfsync settings and replication promise
// (appendfsync always for no loss on a crash of the server; WAIT is not
// issued). A consumer that dies loses nothing: its leases expire and the
// next Receive claims the entries again.
//
// # Traps of Redis Streams, and what the driver does about them
//
//   - XCLAIM and XAUTOCLAIM with JUSTID do not raise the delivery count,
//     so a message that crashes its consumer would never reach the DLQ.
//     The driver claims expired leases and due retries with XCLAIM without
//     JUSTID, so the PEL's counter rises with every delivery, and hands the
//     count to package queue, which dead-letters past MaxDeliveries.
//   - XAUTOCLAIM takes one minimum idle time for the whole group, while
//     leases here have their own deadlines (Extend, retry delays): the
//     deadlines live in sorted sets and XCLAIM names the entries.
//   - XDEL does not remove an entry from the PEL, and Redis 7 drops from
//     the PEL (and reports as deleted) entries that vanished while
//     pending. The driver always XACKs before it XDELs, and when a claim
//     finds the entry gone it settles the lease and its ordering key
//     instead of waiting for it forever (counted in the key "…lost").
//   - Trimming (MAXLEN, MINID) drops entries whether they were acked or
//     not. The driver never trims: settled entries are deleted one by
//     one, so a stream holds exactly the unsettled messages.
//
// # Features on top of streams
//
// Delayed messages and retries with a delay wait in sorted sets; Receive
// moves due delayed messages into their streams in the same script, so
// a message is never both waiting and ready. A retried message stays in
// the PEL, keeping its stream id and its delivery count. Ordering keys:
// only the head of a key is ever in a stream (the others wait in a list
// per key, in publish order), so at most one message per key is leased.
// DedupIDs are keys written with SET NX PX. Each subscription's DLQ is a
// stream with an index hash by message id.
package redisqueue
