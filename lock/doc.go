// Package lock provides distributed locks that are safe to build on: every
// lock belongs to a lease, says when the lease is lost, and carries a
// fencing token that the protected resource can check.
//
// A Locker wraps a backend (a driver.Locker: memlock in process, redislock
// on Redis, pglock on PostgreSQL, etcdlock on etcd, or Redlock over several
// independent Redis servers) and hands out leases:
//
//	d, err := redislock.New(rdb, nil) // a driver; nil options are defaults
//	lk, err := lock.New(d, nil)
//	lease, err := lk.Acquire(ctx, "billing/nightly", nil)
//	defer lease.Release(ctx)
//	select {
//	case <-lease.Done(): // lost: stop, lease.Err() says why
//	...
//	}
//
// # Leases
//
// Acquire blocks until the key is held (or ctx ends); TryAcquire returns
// ErrLocked at once if another owner holds it. A Lease is renewed in the
// background every RenewEvery (TTL/3 by default, jittered by ±10%). The
// lease counts as valid until a safety margin (TTL/10) before the engine's
// expiry, measured from the start of the last successful renewal; when the
// engine refuses a renewal, or renewals fail until that deadline, Done is
// closed and Err returns an error wrapping ErrLeaseLost with the reason.
//
// # Fencing
//
// A lease alone cannot stop a holder that was paused (GC, SIGSTOP, a slow
// disk) past its TTL from writing after someone else acquired the lock.
// Token returns a fencing token that increases strictly with each
// acquisition of a key, by any holder; give it to the resource with each
// write, and let the resource reject tokens older than the newest it has
// seen: Fence does that in memory, SQLFence builds the fenced UPDATE for a
// SQL table, and redislock.Fence checks in a Redis script.
//
// # Which backend
//
// memlock, redislock (single Redis, durable with AOF), pglock and etcdlock
// give strictly increasing fencing tokens and are fit for correctness when
// writes are fenced. Redlock (redislock.NewRedlock) tolerates the loss of a
// minority of independent Redis servers but relies on bounded clock drift
// and pauses: use it for efficiency (avoiding duplicate work), not for
// correctness.
//
// # Waiting
//
// Acquire waits with the backend's native mechanism when it has one (a FIFO
// queue of waiters, or release notifications) and otherwise polls with
// exponential backoff and full jitter (Options.PollInitial, PollMax).
//
// # Election
//
// Election runs leader election on one key: Campaign blocks until the
// caller leads and returns its lease; the leader loses leadership when the
// lease is lost; Leader and Observe report the current leader.
package lock
