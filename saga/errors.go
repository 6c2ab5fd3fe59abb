package saga

import (
	"errors"
	"fmt"

	"github.com/scalekit-go/scalekit/saga/driver"
)

var (
	// ErrEmpty is returned by Register for a saga without steps.
	ErrEmpty = errors.New("saga: a saga needs at least one step")
	// ErrDuplicateStep is returned by Register when two steps share a name.
	ErrDuplicateStep = errors.New("saga: duplicate step name")
	// ErrNilAction is returned by Register for a step without an Action.
	ErrNilAction = errors.New("saga: step has a nil Action")
	// ErrUnknownDependency is returned by Register when a step's After
	// names a step that does not exist.
	ErrUnknownDependency = errors.New("saga: step depends on an unknown step")
	// ErrCycle is returned by Register when the steps' After lists form a
	// cycle.
	ErrCycle = errors.New("saga: steps form a cycle")
	// ErrInvalid is returned for other bad input: an empty name or id,
	// negative durations or attempt counts, a nil orchestrator.
	ErrInvalid = errors.New("saga: invalid input")
	// ErrExists is returned by Run and Start when a saga with the id was
	// started before. It is the same value as driver.ErrExists.
	ErrExists = driver.ErrExists
	// ErrNotFound is returned for an unknown saga id. It is the same value
	// as driver.ErrNotFound.
	ErrNotFound = driver.ErrNotFound
	// ErrBusy is returned by Retry and Abort when another coordinator
	// owns the saga right now.
	ErrBusy = errors.New("saga: owned by another coordinator")
	// ErrLeaseLost is returned when this coordinator lost ownership of a
	// saga while driving it (its lock lease was lost, or a log write was
	// fenced off because another coordinator took over). The coordinator
	// stops at once; the new owner carries on from the log.
	ErrLeaseLost = errors.New("saga: ownership lost")
	// ErrCompensated is returned by Run when the saga failed and was fully
	// compensated; the error also wraps the step's error.
	ErrCompensated = errors.New("saga: compensated")
	// ErrStuck is returned when a compensation failed more often than its
	// retry policy allows: the saga waits for an operator (Retry, Abort).
	ErrStuck = errors.New("saga: stuck: compensation keeps failing")
	// ErrTerminal is returned by Retry and Abort for a saga that is
	// already completed or compensated.
	ErrTerminal = errors.New("saga: already finished")
	// ErrUnknownSaga is returned when no definition with the saga's name
	// is registered with the orchestrator.
	ErrUnknownSaga = errors.New("saga: no definition registered under this name")
	// ErrStepTimeout is the error of an attempt that ran out of its
	// step's Timeout. The step may have been applied all the same, which
	// is why a failed step is compensated too.
	ErrStepTimeout = errors.New("saga: step timed out")
)

// permanent marks an error that must not be retried.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent wraps err so that the orchestrator does not retry the step
// (or the 2PC coordinator does not retry the call) that returned it: the
// saga compensates at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
