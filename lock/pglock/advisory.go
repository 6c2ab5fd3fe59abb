package pglock

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/lock/driver"
)

// Advisory locks are PostgreSQL's own in-memory locks on application-defined
// 64-bit keys. They give mutual exclusion among the sessions of one database
// and nothing more: no TTL (a session lock lives as long as its connection,
// a transaction lock until commit or rollback), no fencing token, and no
// notice to the holder when the connection dies. Use them when everything
// the lock protects lives in the same database; use a Driver-backed
// lock.Locker when the protected resource is elsewhere or needs fencing.
//
// String keys are mapped to the 64-bit key space on the server with
//
//	hashtextextended(key, 0)
//
// (the hash PostgreSQL uses for hash partitioning, stable across versions),
// so SQL written by hand or in other languages takes the same lock with
//
//	SELECT pg_advisory_xact_lock(hashtextextended('orders:42', 0));
//
// Distinct keys collide with probability about n²/2⁶⁵ for n keys in use at
// once; a collision makes two keys exclude each other, never lets two holders
// of one key in. The one-bigint key space used here does not overlap with the
// two-int4 form of the advisory-lock functions.

// Querier is what the advisory-lock functions need: one statement on one
// session. *pgx.Conn, pgx.Tx and *pgxpool.Conn satisfy it. Never pass a
// *pgxpool.Pool to the session-level functions: every call may run on a
// different connection, so the unlock would miss the lock (use
// WithSessionLock, which pins one connection).
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const (
	sqlXactLock       = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text"
	sqlTryXactLock    = "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))"
	sqlSessionLock    = "SELECT pg_advisory_lock(hashtextextended($1, 0))::text"
	sqlTrySessionLock = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"
	sqlSessionUnlock  = "SELECT pg_advisory_unlock(hashtextextended($1, 0))"
)

// LockXact takes the transaction-level advisory lock on key in tx, waiting
// until it is free or ctx ends. The lock is released when tx commits or
// rolls back; there is no unlock call. A cancelled wait returns ctx.Err()
// (pgx cancels the statement, which aborts tx).
func LockXact(ctx context.Context, tx Querier, key string) error {
	return advisoryWait(ctx, tx, "lock xact", sqlXactLock, key)
}

// TryLockXact takes the transaction-level advisory lock on key in tx if it
// is free and reports whether it did; it never waits.
func TryLockXact(ctx context.Context, tx Querier, key string) (bool, error) {
	return advisoryTry(ctx, tx, "try lock xact", sqlTryXactLock, key)
}

// LockSession takes the session-level advisory lock on key on conn, waiting
// until it is free or ctx ends. The lock is held until UnlockSession on the
// same connection or until the connection closes. Session locks nest: a
// session that locks a key twice must unlock it twice.
func LockSession(ctx context.Context, conn Querier, key string) error {
	return advisoryWait(ctx, conn, "lock session", sqlSessionLock, key)
}

// TryLockSession takes the session-level advisory lock on key on conn if it
// is free and reports whether it did; it never waits.
func TryLockSession(ctx context.Context, conn Querier, key string) (bool, error) {
	return advisoryTry(ctx, conn, "try lock session", sqlTrySessionLock, key)
}

// UnlockSession releases one hold of the session-level advisory lock on key
// on conn. It returns an error wrapping lock.ErrNotHeld when this session did
// not hold it.
func UnlockSession(ctx context.Context, conn Querier, key string) error {
	ok, err := advisoryTry(ctx, conn, "unlock session", sqlSessionUnlock, key)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("pglock: unlock session %q: %w", key, driver.ErrNotHeld)
	}
	return nil
}

// WithSessionLock acquires one connection from pool, takes the session-level
// advisory lock on key on it (waiting until it is free or ctx ends), runs fn
// with that connection, then unlocks and returns the connection. The error is
// fn's, or the locking error. If unlocking fails the connection is closed
// instead of returned to the pool, which releases the lock on the server.
//
// Work done by fn on other connections is protected too, but only for as long
// as fn runs: the lock is not fenced, so fn must not hand work to something
// that outlives it.
func WithSessionLock(ctx context.Context, pool *pgxpool.Pool, key string, fn func(ctx context.Context, conn *pgxpool.Conn) error) error {
	if pool == nil {
		return errors.New("pglock: WithSessionLock with a nil pool")
	}
	if fn == nil {
		return errors.New("pglock: WithSessionLock with a nil func")
	}
	if err := checkAdvisoryKey(key); err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("pglock: session lock %q: acquire connection: %w", key, err)
	}
	if err := LockSession(ctx, conn, key); err != nil {
		// A cancelled pg_advisory_lock may still have been granted on the
		// server just before the cancel arrived: never return this
		// connection to the pool.
		_ = conn.Hijack().Close(context.WithoutCancel(ctx))
		return err
	}
	ferr := fn(ctx, conn)
	// Unlock even if ctx is already done: the lock must not stay with a
	// pooled connection.
	uctx := context.WithoutCancel(ctx)
	if uerr := UnlockSession(uctx, conn, key); uerr != nil {
		_ = conn.Hijack().Close(uctx)
		if ferr == nil {
			ferr = uerr
		}
		return ferr
	}
	conn.Release()
	return ferr
}

func checkAdvisoryKey(key string) error {
	if key == "" {
		return errors.New("pglock: empty advisory lock key")
	}
	if err := checkText(key); err != nil {
		return fmt.Errorf("pglock: advisory lock key: %w", err)
	}
	return nil
}

func advisoryWait(ctx context.Context, q Querier, op, sql, key string) error {
	if q == nil {
		return fmt.Errorf("pglock: %s with a nil connection", op)
	}
	if err := checkAdvisoryKey(key); err != nil {
		return err
	}
	var discard string
	if err := q.QueryRow(ctx, sql, key).Scan(&discard); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("pglock: %s %q: %w", op, key, err)
	}
	return nil
}

func advisoryTry(ctx context.Context, q Querier, op, sql, key string) (bool, error) {
	if q == nil {
		return false, fmt.Errorf("pglock: %s with a nil connection", op)
	}
	if err := checkAdvisoryKey(key); err != nil {
		return false, err
	}
	var ok bool
	if err := q.QueryRow(ctx, sql, key).Scan(&ok); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, fmt.Errorf("pglock: %s %q: %w", op, key, err)
	}
	return ok, nil
}
