// Package etcdlock is the etcd backend of package lock, in a module of its
// own so that applications that do not use etcd do not pull in its client
// and gRPC.
//
// A lock is a directory of etcd keys, one per member: the holder and the
// waiters queued behind it, each attached to an etcd lease of its own. The
// member with the lowest create revision holds the lock and its create
// revision is the fencing token: etcd's revision counter is global, never
// goes back and is persisted, so tokens strictly increase per key across
// holders, clients and server restarts.
//
// Waiting is a FIFO queue (driver.Queuer): a waiter puts its member key and
// watches only the member created just before its own, so a release or an
// expiry wakes exactly the next waiter, never a herd. A waiter whose
// context ends deletes its member and revokes its lease before returning;
// a waiter whose process dies leaves the queue when its lease expires.
//
// Lease TTLs are whole seconds on etcd and the server raises short ones to
// its minimum (2s with the default election timeout), so the engine frees
// a lost lock later than package lock assumes, never earlier.
//
// etcd is a replicated, linearizable store: this is the correctness-grade
// backend when the application already runs etcd, and the one whose waiters
// are served in arrival order.
package etcdlock
