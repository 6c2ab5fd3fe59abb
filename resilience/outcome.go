package resilience

import (
	"context"
	"errors"

	"github.com/sony/gobreaker/v2"
)

// Errors callers branch on. Every policy's own refusal wraps ErrRejected,
// so one errors.Is tells "a policy refused, nothing was sent" apart from
// "the call failed".
var (
	// ErrRejected is wrapped by every refusal of a policy: an open
	// breaker, a saturated half-open breaker, a full limiter, a spent
	// budget. A rejection is never counted as a failure by any policy.
	ErrRejected = errors.New("resilience: rejected")
	// ErrOpenState is returned (wrapped in a *RejectedError) by an open
	// breaker. It is gobreaker's own value, so code that tests for
	// gobreaker.ErrOpenState keeps working.
	ErrOpenState = gobreaker.ErrOpenState
	// ErrTooManyRequests is returned (wrapped in a *RejectedError) by a
	// half-open breaker whose trial calls are all in flight.
	ErrTooManyRequests = gobreaker.ErrTooManyRequests
	// ErrLimitExceeded is returned (wrapped in a *RejectedError) when an
	// AdaptiveLimiter refuses a call.
	ErrLimitExceeded = errors.New("resilience: concurrency limit exceeded")
	// ErrBudgetExhausted is returned (wrapped in a *RejectedError) when a
	// retry or hedge is refused by its RetryBudget and there is no other
	// answer to return.
	ErrBudgetExhausted = errors.New("resilience: retry budget exhausted")
	// ErrTimeout is wrapped by *TimeoutError, the error of a Timeout whose
	// own limit ended the call.
	ErrTimeout = errors.New("resilience: timeout")
	// ErrInvalidOption is wrapped by the error every constructor returns
	// for a bad option.
	ErrInvalidOption = errors.New("resilience: invalid option")
)

// RejectedError is the error of a call a policy refused without running
// it. It matches ErrRejected and its cause (ErrOpenState,
// ErrTooManyRequests, ErrLimitExceeded, ErrBudgetExhausted) with errors.Is.
type RejectedError struct {
	// Policy names the refusing policy's instance (its Options.Name).
	Policy string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *RejectedError) Error() string {
	return "resilience: " + e.Policy + " rejected the call: " + e.Err.Error()
}

// Unwrap returns the cause and ErrRejected.
func (e *RejectedError) Unwrap() []error { return []error{e.Err, ErrRejected} }

// IsRejection reports whether err is a policy's own refusal: it wraps
// ErrRejected, or is (wraps) one of gobreaker's refusals produced outside
// this package.
func IsRejection(err error) bool {
	return err != nil && (errors.Is(err, ErrRejected) || errors.Is(err, ErrOpenState) ||
		errors.Is(err, ErrTooManyRequests))
}

// Outcome is how a finished call counts for the policies: the one
// definition that the breaker, the limiter, the retry policy and every
// adapter (httpx, lb, grpcx) share. See Classify.
type Outcome uint8

// The outcomes.
const (
	// Success: the backend answered, and not with a failure.
	Success Outcome = iota
	// Failure: the backend failed (or did not answer) the call.
	Failure
	// Ignored: the call says nothing about the backend. It is neither a
	// success nor a failure: it does not reset a failure streak, and a
	// half-open trial call that ends Ignored neither closes the breaker
	// nor uses up its trial slot.
	Ignored
)

// String returns "success", "failure" or "ignored".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	}
	return "unknown"
}

// Classify returns the outcome of a call that ran under ctx and ended
// with err. It is the single definition of success, failure and "not
// counted" in scalekit:
//
//   - Ignored when err is, or wraps, context.Canceled; when ctx (if not
//     nil) is done — the caller gave up or ran out of time, which says
//     nothing about the backend; or when err is a policy's own rejection
//     (IsRejection), which is not a call at all.
//   - Success when err is nil, or when isFailure is set and says err is
//     not a failure (the backend answered: a "not found" is a success of
//     the backend).
//   - Failure otherwise (isFailure nil means every other error fails).
//
// A deadline that is not the caller's (a per-attempt timeout below the
// caller) is a failure: the backend was too slow.
func Classify(ctx context.Context, err error, isFailure func(error) bool) Outcome {
	if err == nil {
		return Success
	}
	if errors.Is(err, context.Canceled) || IsRejection(err) || (ctx != nil && ctx.Err() != nil) {
		return Ignored
	}
	if isFailure != nil && !isFailure(err) {
		return Success
	}
	return Failure
}
