package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/clock"
)

// Claim is the state of a message id in a DedupStore.
type Claim int

const (
	// ClaimNew: the id was free and is now claimed by the caller.
	ClaimNew Claim = iota
	// ClaimBusy: another handler holds a live claim on the id.
	ClaimBusy
	// ClaimDone: the id was handled successfully before.
	ClaimDone
)

// DedupStore remembers which message ids were handled. Implementations
// are safe for concurrent use, and for use from many processes when the
// store is shared (queue/dedupstore has Redis and PostgreSQL ones).
type DedupStore interface {
	// Claim claims id for lease unless it is claimed or done.
	Claim(ctx context.Context, id string, lease time.Duration) (Claim, error)
	// Done marks a claimed id as handled, remembered for ttl.
	Done(ctx context.Context, id string, ttl time.Duration) error
	// Release gives up a claim after a failed handler, so a redelivery
	// can claim the id again.
	Release(ctx context.Context, id string) error
}

// ErrInProgress is the error an Idempotent handler nacks with when
// another delivery of the same message is being handled right now.
var ErrInProgress = errors.New("queue: message is being handled by another delivery")

// IdempotentOptions configures Idempotent. A nil pointer means defaults.
type IdempotentOptions struct {
	// TTL is how long a handled id is remembered (default 24h); make it
	// longer than any redelivery can come.
	TTL time.Duration
	// Lease bounds a claim of a handler that died (default 5m); it should
	// exceed the handler's running time.
	Lease time.Duration
}

// Idempotent wraps h so that a message handled successfully before (by
// id, per subscription) is acked without running h again. A delivery that
// finds another delivery of the same message running is retried later.
// A failed h releases its claim. Store errors are returned (so the
// subscription's policy retries).
func Idempotent(store DedupStore, h Handler, opts *IdempotentOptions) (Handler, error) {
	if store == nil || h == nil {
		return nil, ErrNilHandler
	}
	var o IdempotentOptions
	if opts != nil {
		o = *opts
	}
	if o.TTL < 0 || o.Lease < 0 {
		return nil, fmt.Errorf("%w: negative IdempotentOptions", ErrInvalidOptions)
	}
	if o.TTL == 0 {
		o.TTL = 24 * time.Hour
	}
	if o.Lease == 0 {
		o.Lease = 5 * time.Minute
	}
	return func(ctx context.Context, d *Delivery) error {
		id := d.sub.topic + "/" + d.sub.name + "/" + d.ID
		c, err := store.Claim(ctx, id, o.Lease)
		if err != nil {
			return fmt.Errorf("queue: dedup claim: %w", err)
		}
		switch c {
		case ClaimDone:
			return nil
		case ClaimBusy:
			return Nack(RetryBackoff, ErrInProgress)
		}
		if herr := h(ctx, d); herr != nil {
			_ = store.Release(context.WithoutCancel(ctx), id)
			return herr
		}
		return store.Done(context.WithoutCancel(ctx), id, o.TTL)
	}, nil
}

// MemoryDedup is an in-process DedupStore with expiry on its clock.
// It is safe for concurrent use; the zero value is not usable, call
// NewMemoryDedup.
type MemoryDedup struct {
	clk clock.Clock
	mu  sync.Mutex
	ids map[string]memClaim
}

type memClaim struct {
	done bool
	exp  time.Time
}

// NewMemoryDedup returns an empty store on clk (nil: real time).
func NewMemoryDedup(clk clock.Clock) *MemoryDedup {
	return &MemoryDedup{clk: clock.Or(clk), ids: map[string]memClaim{}}
}

// Claim implements DedupStore.
func (m *MemoryDedup) Claim(_ context.Context, id string, lease time.Duration) (Claim, error) {
	now := m.clk.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ids) > 1024 && len(m.ids)%1024 == 0 {
		for k, c := range m.ids {
			if !c.exp.After(now) {
				delete(m.ids, k)
			}
		}
	}
	if c, ok := m.ids[id]; ok && c.exp.After(now) {
		if c.done {
			return ClaimDone, nil
		}
		return ClaimBusy, nil
	}
	m.ids[id] = memClaim{exp: now.Add(lease)}
	return ClaimNew, nil
}

// Done implements DedupStore.
func (m *MemoryDedup) Done(_ context.Context, id string, ttl time.Duration) error {
	m.mu.Lock()
	m.ids[id] = memClaim{done: true, exp: m.clk.Now().Add(ttl)}
	m.mu.Unlock()
	return nil
}

// Release implements DedupStore.
func (m *MemoryDedup) Release(_ context.Context, id string) error {
	m.mu.Lock()
	if c, ok := m.ids[id]; ok && !c.done {
		delete(m.ids, id)
	}
	m.mu.Unlock()
	return nil
}
