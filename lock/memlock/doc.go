// Package memlock is the in-process backend of package lock: a map of keys
// to leases guarded by a mutex, with per-key fencing counters, release
// notifications for waiters, an injectable clock and fault injection
// (FailNext, Expire, Restart).
//
// Use it in tests of code built on package lock, with a fake clock to drive
// expiry and renewal, and in single-process programs. It coordinates
// nothing across processes.
//
//	lk, _ := lock.New(memlock.New(nil), nil)
//	lease, err := lk.Acquire(ctx, "jobs/nightly", nil)
package memlock
