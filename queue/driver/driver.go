package driver

import (
	"context"
	"errors"
	"time"
)

// ErrNotLeased is returned by Queue.Nack and Queue.Extend when the handle
// no longer names a live lease: the message was acked, nacked, dead-lettered
// or purged, or its visibility deadline passed (it may then have been
// handed to another consumer under a new handle).
var ErrNotLeased = errors.New("queue: message not leased by this handle")

// ErrNotFound is returned by Queue.DeadLetter when the subscription has no
// dead letter with the given id, and by operations on a subscription that
// does not exist.
var ErrNotFound = errors.New("queue: not found")

// Message is a message as the driver stores it. Package queue fills every
// field and has validated them: Topic is non-empty, ID is unique, Body is
// within the limits, NotBefore is set (never zero), Priority is within
// [queue.MinPriority, queue.MaxPriority].
type Message struct {
	// ID identifies the message; it is unique per topic (package queue
	// generates random 128-bit ids unless the caller sets one) and is the
	// same in every subscription's copy and in the DLQ.
	ID string
	// Body is the payload. The driver must not modify it; it may keep it.
	Body []byte
	// Headers are string key/value pairs (trace context travels here).
	// nil and empty are equivalent.
	Headers map[string]string
	// Key is the ordering key ("" for none); see the package documentation.
	Key string
	// Priority orders ready messages: higher first. 0 is normal.
	Priority int
	// NotBefore is the earliest time the message may be delivered.
	NotBefore time.Time
	// DedupID, when non-empty, makes Publish drop this message if a message
	// with the same DedupID was published to the topic within the driver's
	// dedup window (reported as success, as if stored).
	DedupID string
	// PublishedAt is the time the message was published (set by package
	// queue; drivers may overwrite it with the engine's time).
	PublishedAt time.Time
}

// Delivery is one leased copy of a message handed out by Receive.
type Delivery struct {
	Message
	// Handle names this lease in Ack, Nack and Extend. It is opaque,
	// unique per delivery (a redelivery gets a new handle), and stops
	// working once the lease is over.
	Handle string
	// Deliveries counts the deliveries of this message, this one included
	// (1 on the first); see the package documentation.
	Deliveries int
	// LastError is the error text of the last Nack with a retry, or "".
	LastError string
}

// Action says what Nack does with a leased message.
type Action int

const (
	// ActionRetry makes the message ready again after Nack.Delay (0: at once),
	// keeping its delivery count and its place at the head of its key.
	ActionRetry Action = iota
	// ActionDeadLetter moves the message to the subscription's DLQ with
	// Nack.Reason and Nack.Error.
	ActionDeadLetter
	// ActionDrop deletes the message.
	ActionDrop
)

// String returns "retry", "dead-letter" or "drop".
func (a Action) String() string {
	switch a {
	case ActionRetry:
		return "retry"
	case ActionDeadLetter:
		return "dead-letter"
	case ActionDrop:
		return "drop"
	}
	return "unknown"
}

// Nack is the outcome of a failed delivery.
type Nack struct {
	// Action is what to do with the message.
	Action Action
	// Delay is how long a retried message waits before it is ready again
	// (non-negative; ignored for other actions).
	Delay time.Duration
	// Reason says why a message was dead-lettered (short, fixed words).
	Reason string
	// Error is the handler's error text (may be empty); stored as the
	// message's LastError and, for dead letters, in the DLQ.
	Error string
}

// DeadLetter is a message in a subscription's DLQ.
type DeadLetter struct {
	// Message is the message as it was published.
	Message Message
	// Deliveries is the delivery count when the message died.
	Deliveries int
	// Reason is the Nack.Reason it died with.
	Reason string
	// LastError is the last handler error text ("" if none).
	LastError string
	// DeadAt is when it was moved to the DLQ.
	DeadAt time.Time
}

// Stats is a snapshot of one subscription.
type Stats struct {
	// Backlog counts messages not yet acked: ready, delayed and leased.
	Backlog int64
	// InFlight counts leased messages.
	InFlight int64
	// DeadLetters counts messages in the DLQ.
	DeadLetters int64
	// Oldest is the publish time of the oldest message in the backlog
	// (zero when the backlog is empty).
	Oldest time.Time
}

// Queue is the interface every backend implements. Implementations are safe
// for concurrent use by many goroutines and, where the engine is shared, by
// many processes. Names of topics and subscriptions are non-empty strings
// of at most queue.MaxNameLen bytes; a subscription name is unique within
// its topic.
type Queue interface {
	// Subscribe creates subscription sub of topic if it does not exist
	// (idempotent, safe to race with itself from many processes).
	// Messages published after it returns are copied to it.
	Subscribe(ctx context.Context, topic, sub string) error

	// Publish stores msgs in topic, one copy per subscription, and
	// returns once they are durable (see the package documentation). The
	// order of msgs is their publish order. Messages whose DedupID was
	// seen within the dedup window are skipped silently.
	Publish(ctx context.Context, topic string, msgs []Message) error

	// Receive leases up to max ready messages of subscription sub for
	// visibility, incrementing each one's delivery count, and returns
	// them in priority-then-publish order. It does not block waiting for
	// messages: with none ready it returns an empty slice and nil. It
	// honours ordering keys (at most one leased message per key).
	Receive(ctx context.Context, topic, sub string, max int, visibility time.Duration) ([]Delivery, error)

	// Ack deletes the messages of the given leases. Handles that no
	// longer name a live lease are skipped without error (the message
	// was, or will be, delivered again).
	Ack(ctx context.Context, topic, sub string, handles []string) error

	// Nack settles one lease with n (see Action). It returns ErrNotLeased
	// when handle no longer names a live lease.
	Nack(ctx context.Context, topic, sub, handle string, n Nack) error

	// Extend moves the visibility deadline of a live lease to now +
	// visibility (heartbeat). It returns ErrNotLeased when the lease is
	// over.
	Extend(ctx context.Context, topic, sub, handle string, visibility time.Duration) error

	// DeadLetters lists up to limit dead letters of sub in the order they
	// died, starting after the dead letter with id after ("" from the
	// start).
	DeadLetters(ctx context.Context, topic, sub, after string, limit int) ([]DeadLetter, error)

	// DeadLetter returns the dead letter with message id id, or
	// ErrNotFound.
	DeadLetter(ctx context.Context, topic, sub, id string) (DeadLetter, error)

	// Redrive moves the named dead letters back into sub, ready now, with
	// a delivery count of 0, and reports how many it moved (unknown ids
	// are skipped).
	Redrive(ctx context.Context, topic, sub string, ids []string) (int, error)

	// Purge deletes the named dead letters of sub, or all of them when
	// ids is nil, and reports how many it deleted.
	Purge(ctx context.Context, topic, sub string, ids []string) (int, error)

	// Stats reports the backlog of sub.
	Stats(ctx context.Context, topic, sub string) (Stats, error)
}

// Notifier is an optional interface of a Queue that can wake idle
// consumers. Package queue waits on the channel, and on a poll timer
// (which also covers delayed messages and expired leases), whichever is
// first.
type Notifier interface {
	// Notify returns a channel with a buffer of one that receives
	// (without blocking the sender; a pending value absorbs later
	// wake-ups) whenever messages may have become ready in sub after
	// Notify returned: published, retried without delay, redriven. It
	// stays valid until stop is called; spurious wake-ups are allowed.
	// The driver never closes it. stop releases the subscription and must
	// be called exactly once.
	Notify(ctx context.Context, topic, sub string) (ready <-chan struct{}, stop func(), err error)
}

// Limits are a driver's bounds on input; a zero field means no bound of
// the driver's own (package queue still applies its defaults).
type Limits struct {
	// MaxBody is the largest message body, in bytes.
	MaxBody int
	// MaxBatch is the most messages one Publish, Receive or Ack call takes.
	MaxBatch int
}

// Limited is an optional interface of a Queue with input bounds.
type Limited interface {
	Limits() Limits
}

// DedupWindowed is an optional interface of a Queue that reports how long
// it remembers DedupIDs. Without it package queue assumes the dedup window
// is at least a minute.
type DedupWindowed interface {
	DedupWindow() time.Duration
}

// Retryable is an optional interface of a Queue that tells transient engine
// errors (timeouts, connection resets, failover) from permanent ones.
// Package queue retries Receive, Ack and Extend after retryable errors;
// without it every error from those calls is treated as retryable.
type Retryable interface {
	IsRetryable(err error) bool
}

// ReceiverInto is an optional interface of a Queue that leases into a
// slice the caller provides, so that a consumer fetching batch after batch
// allocates no slice per batch.
type ReceiverInto interface {
	// ReceiveInto is Receive appending the deliveries to buf[:0]. The
	// caller may reuse the returned slice's array once it is done with
	// the deliveries.
	ReceiveInto(ctx context.Context, topic, sub string, buf []Delivery, max int, visibility time.Duration) ([]Delivery, error)
}

// Local is an optional marker interface of a Queue that does no I/O (an
// in-process engine such as memqueue): package queue records its metrics
// but starts no spans for it. A Local Queue must not keep the msgs slice
// passed to Publish after it returns (it copies what it stores; it may
// keep the Bodies): package queue reuses the slice.
type Local interface {
	Local()
}
