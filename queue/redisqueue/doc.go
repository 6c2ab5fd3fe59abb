// Package redisqueue is the Redis Streams backend of package queue, on a
// standalone server, Sentinel or Cluster (through redis.UniversalClient).
//
// # Layout
//
// Every key of a topic starts with "<prefix>{<topic>}:", so the topic is
// the Cluster hash tag and all of a topic's keys share one slot: every
// operation is one Lua script (or plain command) on one node. Topic names
// may therefore not contain braces (ErrBraceInName). Each subscription
// has a stream per priority level in use with a consumer group; an entry
// has one field, message id → blob. Publishing appends one entry per
// subscription (fan-out).
//
// # Leases are the PEL
//
// A lease is the entry's place in the consumer group's pending entries
// list (PEL), owned by consumer "c"; nothing else is written per message
// on the hot path. Receive is one script that moves due delayed
// messages, claims due retries and expired leases, and then (one
// priority level, the common case) leaves the new entries to a plain
// XREADGROUP COUNT n from the client, so they never pass through Lua; with
// several levels the script reads them, highest first. Ack of a batch is
// one script: one XACK per level for keyless first deliveries, then the
// acked prefix of the stream is trimmed.
//
// Visibility uses the PEL's idle time. Each subscription keeps a lease
// horizon H, the longest visibility any Receive or Extend asked for: a
// lease is over once its entry has been idle for H. A lease of a shorter
// visibility v gets its delivery time set v-H in the past (XCLAIM ...
// IDLE H-v JUSTID), so it ends after v all the same. H only grows; when
// it grows, leases taken before run for the difference longer (never
// shorter). Receive looks for expired leases (XPENDING IDLE H ... c,
// consumer "c" only) at most every H/8, 10 ms to 1 s, per subscription,
// so an expired lease is handed out again within that much after its
// visibility. Extend is XCLAIM ... IDLE H-v JUSTID to the same consumer:
// the idle time restarts and the delivery count stays.
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
//     Redelivery (an expired lease, a due retry) is XCLAIM without
//     JUSTID, so the PEL's counter rises with every delivery; the driver
//     hands it to package queue, which dead-letters past MaxDeliveries.
//     JUSTID is used only where the count must stay: Extend, moving a
//     nacked entry aside, and setting the delivery time of a short lease.
//   - XAUTOCLAIM takes every entry of the group idle for long enough,
//     whoever owns it, and one minimum idle time for all. Entries waiting
//     for a retry stay in the PEL (keeping their stream id and delivery
//     count) under consumer "r", with their due time in a sorted set, so
//     the driver finds expired leases with XPENDING IDLE filtered to
//     consumer "c" and claims them with XCLAIM.
//   - XDEL does not remove an entry from the PEL, and Redis 7 drops from
//     the PEL (and leaves out of the reply; XAUTOCLAIM reports them in a
//     third element) entries that vanished while pending. When a claim
//     or an Extend finds the entry gone, the driver settles it and moves
//     its ordering key on (the key of a keyed entry is kept in a hash by
//     stream id for this) instead of waiting for it forever (counted in
//     the key "…lost").
//   - Trimming (MAXLEN, MINID) drops entries whether they were acked or
//     not. The driver trims only with XTRIM MINID ~ below the first
//     pending id (or past the last id read when nothing is pending), so an
//     unacked entry is never dropped; a message waiting long for a retry
//     holds back the trim of the entries after it.
//   - A handle whose lease expired and was handed out again must not
//     settle the new lease. A handle carries its delivery count; entries
//     delivered more than once have their current count in a hash, which
//     Ack reads (one HMGET per batch, and only while the hash is not
//     empty), and Nack and Extend check the PEL's own count and owner.
//
// # Features on top of streams
//
// Delayed messages and retries with a delay wait in sorted sets; Receive
// moves due delayed messages into their streams in the same script, so
// a message is never both waiting and ready. Ordering keys: only the
// head of a key is ever in a stream (the others wait in a list per key,
// in publish order), so at most one message per key is leased. DedupIDs
// are keys written with SET NX PX. Each subscription's DLQ is a stream
// with an index hash by message id.
//
// # Performance
//
// See README.md for figures and the commands that measure them
// (BenchmarkEndToEnd runs package queue, the driver alone and the raw
// client in turn in every round).
package redisqueue
