package httpx

import (
	"fmt"

	"github.com/scalekit-go/scalekit/resilience"
)

// RetryBudgetOptions configure a RetryBudget (see
// resilience.RetryBudgetOptions). The zero value (or nil) means Ratio 0.1,
// MinPerSecond 10 and Burst 10.
type RetryBudgetOptions = resilience.RetryBudgetOptions

// RetryBudget bounds the extra sends (retries, hedges) a client makes, so
// that retrying cannot multiply the load on a struggling backend. It is
// resilience.RetryBudget: one budget may be shared by httpx transports,
// grpcx interceptors and resilience policies calling the same backend.
type RetryBudget = resilience.RetryBudget

// NewRetryBudget returns a full budget configured by opts (nil means the
// defaults). Out-of-range options give an error wrapping
// ErrInvalidClientOption (and resilience.ErrInvalidOption).
func NewRetryBudget(opts *RetryBudgetOptions) (*RetryBudget, error) {
	b, err := resilience.NewRetryBudget(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidClientOption, err)
	}
	return b, nil
}
