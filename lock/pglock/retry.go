package pglock

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsRetryable reports whether err is a transient condition after which the
// same call may succeed: the connection could not be made or broke (the
// server restarted, failed over or dropped the connection), a timeout, or a
// server error of a transient class (serialization failure, deadlock, lock
// not available, too many connections, server shutting down or starting).
// Every driver call is idempotent for its owner, so repeating one whose
// reply was lost is safe. SQL errors (a missing table, a permission) and
// context errors are not retryable.
func (d *Driver) IsRetryable(err error) bool { return isRetryable(err) }

func isRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return retryableCode(pgErr.Code)
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	// pgx reports a connection it closed after an earlier failure as
	// "conn closed" without a typed error.
	return strings.Contains(err.Error(), "conn closed")
}

// retryableCode reports whether a SQLSTATE names a transient condition.
func retryableCode(code string) bool {
	if strings.HasPrefix(code, "08") { // connection exception
		return true
	}
	switch code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03", // lock_not_available
		"53300", // too_many_connections
		"57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03": // cannot_connect_now
		return true
	}
	return false
}
