package ratelimit

import (
	"errors"
	"fmt"

	"github.com/scalekit-go/scalekit/ratelimit/driver"
)

// Errors returned by the package; test for them with errors.Is.
var (
	// ErrInvalidLimit is returned (wrapped, with the reason) by Validate and
	// the constructors for a bad Limit: rate ≤ 0, period ≤ 0, burst < 1 on
	// a bucket algorithm, burst set on a window algorithm, or an unknown
	// algorithm.
	ErrInvalidLimit = errors.New("ratelimit: invalid limit")
	// ErrEmptyKey is returned by Allow and Wait for an empty key.
	ErrEmptyKey = errors.New("ratelimit: empty key")
	// ErrInvalidN is returned by Allow and Wait for n < 1.
	ErrInvalidN = errors.New("ratelimit: n must be at least 1")
	// ErrExceedsCapacity is returned by Allow and Wait when n is larger
	// than the limiter's Capacity (its burst, or its rate for window
	// algorithms): such a request can never be admitted.
	ErrExceedsCapacity = errors.New("ratelimit: n exceeds the limiter's capacity")
	// ErrWouldExceedDeadline is returned by Wait, without sleeping, when the
	// request could not be admitted before the context's deadline.
	ErrWouldExceedDeadline = errors.New("ratelimit: wait would exceed the context deadline")
	// ErrUnavailable wraps a backend error (for example Redis unreachable)
	// when the limiter's failure policy is FailError.
	ErrUnavailable = errors.New("ratelimit: backend unavailable")
)

// Validate reports whether l is a usable limit; the error wraps
// ErrInvalidLimit and says what is wrong.
func Validate(l Limit) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidLimit, fmt.Sprintf(format, args...))
	}
	switch l.Algorithm {
	case driver.TokenBucket, driver.LeakyBucket, driver.FixedWindow,
		driver.SlidingLog, driver.SlidingWindow, driver.GCRA:
	default:
		return bad("unknown algorithm %d", int(l.Algorithm))
	}
	if l.Rate <= 0 {
		return bad("rate must be > 0, got %d", l.Rate)
	}
	if l.Period <= 0 {
		return bad("period must be > 0, got %v", l.Period)
	}
	if l.Algorithm.Bucket() {
		if l.Burst < 1 {
			return bad("burst must be ≥ 1 for %v, got %d", l.Algorithm, l.Burst)
		}
		if int64(l.Burst) > maxBurstPeriod/int64(l.Period) {
			return bad("burst·period too large (%d × %v)", l.Burst, l.Period)
		}
	} else if l.Burst != 0 {
		return bad("burst applies only to bucket algorithms; %v takes rate per period (got burst %d)", l.Algorithm, l.Burst)
	}
	return nil
}

// maxBurstPeriod bounds Burst·Period (in ns) so that integer-time bucket
// state never overflows.
const maxBurstPeriod = 1 << 61

func checkArgs(l Limit, key string, n int) error {
	if key == "" {
		return ErrEmptyKey
	}
	if n < 1 {
		return fmt.Errorf("%w (got %d)", ErrInvalidN, n)
	}
	if c := l.Capacity(); n > c {
		return fmt.Errorf("%w: n=%d > %d", ErrExceedsCapacity, n, c)
	}
	return nil
}
