// Package pgshard is shard's PostgreSQL backend.
//
//   - Driver (Open) stores versioned shard maps and a directory table; map
//     changes reach every shard.Router through LISTEN/NOTIFY, with polling
//     as the safety net for lost notifications.
//   - ReplicaSet routes a shard's reads to streaming replicas within a lag
//     bound, with read-your-writes: Write returns a shard.Token carrying the
//     primary's WAL position, and a read with that token goes to a replica
//     only once pg_last_wal_replay_lsn() has reached it (polled, with a
//     bound), else to the primary.
//   - Migrator moves logical shards between nodes online: lock lease,
//     trigger-based write capture, batch copy, catch-up, reads switched,
//     then writes switched with a bounded write pause (writers wait, do not
//     fail), verification by row count and checksum, source kept until the
//     new map is committed, fencing, resumable after a crash at any step.
//     Writer is the write path that waits through a cut-over.
package pgshard
