package queue

import (
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
)

// Bounds and defaults.
const (
	// MaxNameLen is the longest topic name, subscription name, ordering
	// key, message id or dedup id accepted, in bytes.
	MaxNameLen = 200
	// DefaultMaxBody is the largest body accepted when Options.MaxBody is
	// zero and the backend states no smaller limit.
	DefaultMaxBody = 1 << 20
	// MinPriority and MaxPriority bound Message.Priority; 0 is normal,
	// higher is delivered first.
	MinPriority, MaxPriority = -9, 9
	// PriorityHigh and PriorityLow are the usual non-default priorities.
	PriorityHigh, PriorityLow = 1, -1
	// DefaultMaxDeliveries is the delivery count at which a failing
	// message is dead-lettered when SubscriptionOptions.MaxDeliveries is 0.
	DefaultMaxDeliveries = 10
	// DefaultVisibility is the lease of a delivery when
	// SubscriptionOptions.Visibility is 0.
	DefaultVisibility = 30 * time.Second
)

// Options configures a Queue. A nil *Options means the defaults of every
// field; the zero value of a field means its default.
type Options struct {
	// Name tells the instance apart in telemetry (attribute scalekit.name;
	// default "queue").
	Name string
	// MaxBody is the largest message body accepted (default
	// DefaultMaxBody, and never above the backend's limit).
	MaxBody int
	// Clock is the time source for delays, backoff, heartbeats and polls
	// (default real time).
	Clock clock.Clock
	// TracerProvider and MeterProvider default to the global providers.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Propagator carries trace context in message headers (default the
	// global text-map propagator).
	Propagator propagation.TextMapPropagator
}

// SubscriptionOptions configures how a Subscription's messages are handled.
// A nil *SubscriptionOptions means the defaults; a zero field means its
// default.
type SubscriptionOptions struct {
	// Visibility is how long a delivery is leased before the message goes
	// back to the queue if neither settled nor extended (default
	// DefaultVisibility).
	Visibility time.Duration
	// HeartbeatEvery is how often the leases of running handlers (and of
	// prefetched messages) are extended (default Visibility/3; must be
	// shorter than Visibility).
	HeartbeatEvery time.Duration
	// MaxDeliveries is the delivery count at which a message that fails
	// again is dead-lettered instead of retried, and past which a
	// delivered message goes to the dead-letter queue without running the
	// handler (a consumer that crashed on it each time). Default
	// DefaultMaxDeliveries.
	MaxDeliveries int
	// OnError is the policy for a handler that returns an error (not a
	// Nack) or panics (default RetryBackoff).
	OnError Policy
	// Backoff is the schedule of RetryBackoff.
	Backoff Backoff
	// PollInterval is the longest wait between polls of an idle
	// subscription (default 1s; backends with notifications wake
	// consumers earlier). Polls back off from PollMin (default 5ms).
	PollInterval, PollMin time.Duration
}

// ConsumeOptions configures one Consume call. A nil *ConsumeOptions means
// the defaults.
type ConsumeOptions struct {
	// Concurrency is the most handlers running at once (default 10).
	Concurrency int
	// Prefetch is how many leased messages may wait for a free handler
	// (default Concurrency). Concurrency + Prefetch bounds the messages
	// this consumer holds: backpressure on a slow handler.
	Prefetch int
	// ShutdownTimeout bounds the drain after ctx ends: running handlers
	// get this long to finish, then their context is cancelled (default
	// 30s). Prefetched messages that did not start are released at once.
	ShutdownTimeout time.Duration
	// AckBatch is the most acks sent in one call to the backend (default
	// 256).
	AckBatch int
	// AckDelay is the longest an ack waits for others to share its call
	// while more messages are being handled (default 2ms; negative: send
	// every ack at once). With nothing else in hand, acks go at once.
	AckDelay time.Duration
}

func (o *SubscriptionOptions) withDefaults() (SubscriptionOptions, error) {
	var s SubscriptionOptions
	if o != nil {
		s = *o
	}
	if s.Visibility < 0 || s.HeartbeatEvery < 0 || s.MaxDeliveries < 0 || s.PollInterval < 0 || s.PollMin < 0 ||
		s.Backoff.Initial < 0 || s.Backoff.Max < 0 || s.Backoff.Multiplier < 0 {
		return s, fmt.Errorf("%w: negative value in SubscriptionOptions", ErrInvalidOptions)
	}
	if s.OnError.fixed && s.OnError.delay < 0 {
		return s, fmt.Errorf("%w: OnError RetryAfter(%v)", ErrInvalidDelay, s.OnError.delay)
	}
	if s.Visibility == 0 {
		s.Visibility = DefaultVisibility
	}
	if s.HeartbeatEvery == 0 {
		s.HeartbeatEvery = s.Visibility / 3
	}
	if s.HeartbeatEvery >= s.Visibility {
		return s, fmt.Errorf("%w: HeartbeatEvery %v not shorter than Visibility %v", ErrInvalidOptions, s.HeartbeatEvery, s.Visibility)
	}
	if s.MaxDeliveries == 0 {
		s.MaxDeliveries = DefaultMaxDeliveries
	}
	if s.PollInterval == 0 {
		s.PollInterval = time.Second
	}
	if s.PollMin == 0 {
		s.PollMin = 5 * time.Millisecond
	}
	if s.PollMin > s.PollInterval {
		s.PollMin = s.PollInterval
	}
	if s.Backoff.Initial == 0 {
		s.Backoff.Initial = time.Second
	}
	if s.Backoff.Max == 0 {
		s.Backoff.Max = 5 * time.Minute
	}
	if s.Backoff.Multiplier == 0 {
		s.Backoff.Multiplier = 2
	}
	return s, nil
}

func (o *ConsumeOptions) withDefaults() (ConsumeOptions, error) {
	var c ConsumeOptions
	if o != nil {
		c = *o
	}
	if c.Concurrency < 0 || c.Prefetch < 0 || c.ShutdownTimeout < 0 || c.AckBatch < 0 {
		return c, fmt.Errorf("%w: negative value in ConsumeOptions", ErrInvalidOptions)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 10
	}
	if c.Prefetch == 0 {
		c.Prefetch = c.Concurrency
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.AckBatch == 0 {
		c.AckBatch = 256
	}
	if c.AckDelay == 0 {
		c.AckDelay = 2 * time.Millisecond
	}
	return c, nil
}
