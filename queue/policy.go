package queue

import (
	"errors"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// Policy is what happens to a message whose handler failed: retried after
// an exponential backoff with jitter, retried after a fixed delay,
// dead-lettered at once, or dropped. Whatever the policy, a message that
// has been delivered Options.MaxDeliveries times is dead-lettered instead
// of retried, so nothing loops without a bound.
//
// The zero value is RetryBackoff. A Policy is a small value, safe to copy
// and share.
type Policy struct {
	action driver.Action
	delay  time.Duration
	fixed  bool // retry after delay instead of the backoff
}

var (
	// RetryBackoff retries after the subscription's Backoff for the
	// delivery number (exponential with full jitter). It is the default.
	RetryBackoff = Policy{}
	// DeadLetterNow moves the message to the subscription's dead-letter
	// queue at once, with the handler's error.
	DeadLetterNow = Policy{action: driver.ActionDeadLetter}
	// Drop deletes the message (it is counted as nacked, not acked).
	Drop = Policy{action: driver.ActionDrop}
)

// RetryAfter retries after exactly d (0: at once). A negative d makes the
// nack fail with ErrInvalidDelay.
func RetryAfter(d time.Duration) Policy { return Policy{delay: d, fixed: true} }

// String describes the policy ("retry-backoff", "retry-after 5s",
// "dead-letter", "drop").
func (p Policy) String() string {
	switch {
	case p.action == driver.ActionDeadLetter:
		return "dead-letter"
	case p.action == driver.ActionDrop:
		return "drop"
	case p.fixed:
		return "retry-after " + p.delay.String()
	}
	return "retry-backoff"
}

// NackError is an error a handler returns to choose the outcome of its
// message explicitly. Build it with Nack.
type NackError struct {
	// Policy is the outcome asked for.
	Policy Policy
	// Err is the failure (may be nil).
	Err error
}

// Error returns the policy and the wrapped error.
func (e *NackError) Error() string {
	if e.Err == nil {
		return "queue: nack (" + e.Policy.String() + ")"
	}
	return fmt.Sprintf("queue: nack (%s): %v", e.Policy, e.Err)
}

// Unwrap returns the wrapped error.
func (e *NackError) Unwrap() error { return e.Err }

// Nack returns an error that, returned by a handler, settles the message
// with policy p instead of the subscription's OnError policy:
//
//	return queue.Nack(queue.DeadLetterNow, fmt.Errorf("bad payload: %w", err))
//	return queue.Nack(queue.RetryAfter(time.Minute), errRateLimited)
func Nack(p Policy, err error) error { return &NackError{Policy: p, Err: err} }

// Backoff is the retry schedule of RetryBackoff: the delay before retry
// n (n = 1 after the first delivery) is uniformly random in
// [0, min(Max, Initial·Multiplier^(n-1))] (full jitter), or exactly that
// ceiling with NoJitter. The zero value means Initial 1s, Max 5m,
// Multiplier 2, jitter on.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	NoJitter   bool
}

// Reasons recorded with dead letters.
const (
	// ReasonMaxDeliveries: the message was delivered MaxDeliveries times
	// without being acked (failed handlers or crashed consumers).
	ReasonMaxDeliveries = "max-deliveries"
	// ReasonRejected: the handler (or the OnError policy) asked for the
	// dead-letter queue.
	ReasonRejected = "rejected"
)

// outcome turns a handler result into a driver nack for a message that
// has been delivered n times (n >= 1).
func (s *Subscription) outcome(herr error, n int) (driver.Nack, error) {
	p := s.opts.OnError
	var ne *NackError
	if errors.As(herr, &ne) {
		p = ne.Policy
		if ne.Err != nil {
			herr = ne.Err
		}
	}
	msg := ""
	if herr != nil {
		msg = herr.Error()
		if len(msg) > maxErrorText {
			msg = msg[:maxErrorText]
		}
	}
	switch p.action {
	case driver.ActionDeadLetter:
		return driver.Nack{Action: driver.ActionDeadLetter, Reason: ReasonRejected, Error: msg}, nil
	case driver.ActionDrop:
		return driver.Nack{Action: driver.ActionDrop, Error: msg}, nil
	}
	if p.fixed && p.delay < 0 {
		return driver.Nack{}, fmt.Errorf("%w: RetryAfter(%v)", ErrInvalidDelay, p.delay)
	}
	if n >= s.opts.MaxDeliveries {
		return driver.Nack{Action: driver.ActionDeadLetter, Reason: ReasonMaxDeliveries, Error: msg}, nil
	}
	d := p.delay
	if !p.fixed {
		d = s.q.backoffDelay(s.opts.Backoff, n-1)
	}
	return driver.Nack{Action: driver.ActionRetry, Delay: d, Error: msg}, nil
}

// maxErrorText bounds the error text stored with a message.
const maxErrorText = 4096
