package lock

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalekit-go/scalekit/lock/driver"
)

var (
	// ErrLocked is returned by TryAcquire when another owner holds the
	// key. It is the same value as driver.ErrLocked.
	ErrLocked = driver.ErrLocked
	// ErrNotHeld is returned by Lease.Release (and, together with
	// ErrLeaseLost, by Lease.Renew) when the lease is no longer held: it
	// expired, was dropped by the engine, or another owner holds the key.
	// It is the same value as driver.ErrNotHeld.
	ErrNotHeld = driver.ErrNotHeld
	// ErrLeaseLost is what Lease.Err returns (wrapped, with the reason)
	// once the lease is lost: the engine refused a renewal, or renewals
	// failed until the lease could have expired. Work protected by the
	// lease must stop.
	ErrLeaseLost = errors.New("lock: lease lost")
	// ErrReleased is what Lease.Err returns after a successful Release.
	ErrReleased = errors.New("lock: lease released")
	// ErrInvalidKey is returned for an empty key or one longer than the
	// backend accepts.
	ErrInvalidKey = errors.New("lock: invalid key")
	// ErrInvalidTTL is returned for a negative TTL or renewal period, a
	// TTL below the minimum, or a renewal period not shorter than the TTL.
	ErrInvalidTTL = errors.New("lock: invalid TTL")
	// ErrNoNativeWait is returned by Acquire with WaitNative when the
	// backend has neither a wait queue nor release notifications.
	ErrNoNativeWait = errors.New("lock: backend has no native wait")
	// ErrFenced is returned (wrapped) by the fencing helpers when a write
	// carries a token older than the newest one the resource has seen: the
	// writer's lease was lost and someone else has held the lock since.
	ErrFenced = errors.New("lock: write rejected: stale fencing token")
	// ErrNotLeader is returned by Election.Resign and Election.Proclaim
	// when the caller does not hold the leadership (any more).
	ErrNotLeader = errors.New("lock: not the leader")
)

// opErr wraps a driver error with the operation and key, except that a
// context error caused by ctx is returned unwrapped.
func opErr(ctx context.Context, op, key string, err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return cerr
	}
	return fmt.Errorf("lock: %s %q: %w", op, key, err)
}
