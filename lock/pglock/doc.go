// Package pglock is the PostgreSQL backend of package lock, plus helpers
// for PostgreSQL's advisory locks.
//
// # Lease table
//
// Driver keeps one row per key in a lease table (see CreateSchema) and does
// every operation in one statement, timed by the database clock (now()), so
// the clients' clocks do not matter:
//
//   - TryAcquire: INSERT … ON CONFLICT (key) DO UPDATE … WHERE the lease has
//     expired (or is the caller's own) RETURNING token;
//   - Renew: UPDATE … SET expires_at = now() + ttl WHERE key, owner and
//     the lease is live;
//   - Release: the same UPDATE setting the row free, with pg_notify so that
//     waiters (Notify) retry at once;
//   - Holder: SELECT of the live row.
//
// Fencing tokens come from a sequence and are drawn under the key's row
// lock, so they are strictly increasing per key across holders, processes
// and server restarts (the sequence is WAL-logged; after a crash it skips
// ahead, never back). Rows of free keys stay in the table (one small row
// per key ever locked) because deleting them would let a slow insert reuse
// a smaller token; applications with unbounded key sets may delete rows
// that have been free for longer than any acquisition can take, e.g.
//
//	DELETE FROM scalekit_locks WHERE expires_at < now() - interval '1 hour'
//
// Use this backend when the resource the lock protects is in the same
// PostgreSQL database or can check fencing tokens: a lease on the database
// the application already runs is correctness-grade (one linearizable
// store, durable tokens), unlike Redlock.
//
// # Advisory locks
//
// LockXact, TryLockXact, LockSession, TryLockSession, UnlockSession and
// WithSessionLock wrap pg_advisory_xact_lock and pg_advisory_lock on a
// 64-bit hash of a string key. They are for callers who only need mutual
// exclusion among sessions of one database, for work done inside it: no
// TTL, no fencing token, no lease-lost signal besides the connection
// dying.
package pglock
