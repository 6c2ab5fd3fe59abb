package cache

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalekit-go/scalekit/cache/driver"
)

// ErrNotFound is what a loader returns to say the key does not exist in the
// source of truth. GetOrLoad returns it (unwrapped when possible), and
// caches the absence for Options.NegativeTTL. It is also returned when the
// Bloom guard says the key is definitely absent.
var ErrNotFound = errors.New("cache: not found")

// ErrNilLoader is returned when GetOrLoad or a write strategy is called
// with a nil function.
var ErrNilLoader = errors.New("cache: nil loader or writer")

// ErrInvalidTTL is returned for a negative TTL or an option that makes no
// sense (negative window, fraction outside its range).
var ErrInvalidTTL = errors.New("cache: invalid TTL or option")

// ErrTooLarge is returned when a value is larger than the backend accepts.
// It is the same value as driver.ErrTooLarge.
var ErrTooLarge = driver.ErrTooLarge

// ErrClosed is returned by operations on a closed Cache or WriteBehind.
var ErrClosed = errors.New("cache: closed")

// ErrCorrupt is returned (wrapped) when a stored value cannot be decoded.
var ErrCorrupt = errors.New("cache: corrupt entry")

// PanicError is the error every waiter of a load receives when the loader
// panicked. The panic does not crash the process.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the loader goroutine's stack at the panic.
	Stack []byte
}

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("cache: loader panicked: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// opErr wraps a store or source error with the operation, except that a
// cancelled or expired ctx is returned as ctx.Err(), unwrapped.
func opErr(ctx context.Context, err error, format string, args ...any) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return cerr
	}
	return fmt.Errorf("cache: "+format+": %w", append(args, err)...)
}
