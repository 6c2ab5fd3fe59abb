package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalekit-go/scalekit/queue/driver"
)

var (
	// ErrClosed is returned by calls on a Queue after Close.
	ErrClosed = errors.New("queue: closed")
	// ErrInvalidName is returned for an empty topic or subscription name,
	// or one longer than MaxNameLen bytes.
	ErrInvalidName = errors.New("queue: invalid name")
	// ErrInvalidMessage is returned for a malformed message: an empty
	// header name, an ordering key or id longer than MaxNameLen, or both
	// Delay and NotBefore set.
	ErrInvalidMessage = errors.New("queue: invalid message")
	// ErrTooLarge is returned for a body larger than Options.MaxBody (or
	// the backend's limit), or a batch with no messages.
	ErrTooLarge = errors.New("queue: message too large")
	// ErrInvalidDelay is returned for a negative delay or retry delay.
	ErrInvalidDelay = errors.New("queue: invalid delay")
	// ErrInvalidPriority is returned for a priority outside
	// [MinPriority, MaxPriority].
	ErrInvalidPriority = errors.New("queue: invalid priority")
	// ErrNilHandler is returned by Consume with a nil handler.
	ErrNilHandler = errors.New("queue: nil handler")
	// ErrInvalidOptions is returned for options out of range (negative
	// durations or counts, a heartbeat not shorter than the visibility
	// timeout).
	ErrInvalidOptions = errors.New("queue: invalid options")
	// ErrNotLeased is returned by Delivery.Ack, Nack and Extend when the
	// delivery's lease is over (already settled, or its visibility timeout
	// passed and the message went back to the queue). It is the same
	// value as driver.ErrNotLeased.
	ErrNotLeased = driver.ErrNotLeased
	// ErrNotFound is returned by Subscription.DeadLetter for an unknown
	// id. It is the same value as driver.ErrNotFound.
	ErrNotFound = driver.ErrNotFound
	// ErrDrainTimeout is returned by Consume when handlers were still
	// running at the end of the shutdown deadline; their messages will
	// be delivered again.
	ErrDrainTimeout = errors.New("queue: shutdown deadline passed with handlers running")
)

// PanicError is the error a handler's panic is turned into; it then
// follows the subscription's error policy like any other error.
type PanicError struct {
	// Value is the value the handler panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error returns "queue: handler panicked: <value>".
func (p *PanicError) Error() string { return fmt.Sprintf("queue: handler panicked: %v", p.Value) }

// opError wraps err with the operation and name once.
func opError(op, name string, err error) error {
	if err == nil || err == context.Canceled || err == context.DeadlineExceeded {
		return err
	}
	return fmt.Errorf("queue: %s %q: %w", op, name, err)
}
