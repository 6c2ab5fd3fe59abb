package lock

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ElectionOptions configures an Election. A nil *ElectionOptions means the
// defaults of every field.
type ElectionOptions struct {
	// Lease sets the TTL, renewal period and wait strategy of the
	// leader's lease (default the Locker's defaults). Its Meta is
	// replaced by the value given to Campaign.
	Lease *AcquireOptions
	// ObserveEvery is how often Observe polls the current leader (default
	// a quarter of the Locker's TTL).
	ObserveEvery time.Duration
}

// Election is leader election on one key of a Locker: the leader is the
// holder of the key's lease, so at most one candidate leads at a time, and
// a leader whose lease is lost (its Done is closed) is no longer the
// leader. A candidate's value (its address, say) is stored as the lease's
// metadata for others to read with Leader and Observe.
//
// An Election is one candidate: use one per process (or per goroutine that
// campaigns). It is safe for concurrent use; the zero value is not usable,
// call NewElection.
type Election struct {
	lk    *Locker
	key   string
	opts  AcquireOptions
	every time.Duration

	mu    sync.Mutex
	lease *Lease
}

// NewElection returns a candidate in the election on key. It does no I/O.
// An invalid key or lease option is reported here.
func NewElection(lk *Locker, key string, opts *ElectionOptions) (*Election, error) {
	if lk == nil {
		return nil, fmt.Errorf("lock: NewElection with a nil Locker")
	}
	var o ElectionOptions
	if opts != nil {
		o = *opts
	}
	e := &Election{lk: lk, key: key, every: o.ObserveEvery}
	if o.Lease != nil {
		e.opts = *o.Lease
	}
	if _, err := lk.prepare(key, &e.opts); err != nil {
		return nil, err
	}
	if e.every < 0 {
		return nil, fmt.Errorf("lock: NewElection: negative ObserveEvery %v", e.every)
	}
	if e.every == 0 {
		e.every = max(lk.opts.TTL/4, time.Millisecond)
	}
	return e, nil
}

// Key returns the election's key.
func (e *Election) Key() string { return e.key }

// Campaign blocks until this candidate leads, and returns the leader's
// lease, with value stored as its metadata. Leadership ends when the lease
// is lost (lease.Done is closed) or on Resign. If the candidate already
// leads, Campaign returns the current lease. When ctx ends first it
// returns ctx.Err().
func (e *Election) Campaign(ctx context.Context, value string) (*Lease, error) {
	if l := e.current(); l != nil {
		return l, nil
	}
	o := e.opts
	o.Meta = value
	l, err := e.lk.Acquire(ctx, e.key, &o)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.lease = l
	e.mu.Unlock()
	return l, nil
}

// current returns the live lease of this candidate, or nil.
func (e *Election) current() *Lease {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lease != nil && e.lease.Err() != nil {
		e.lease = nil
	}
	return e.lease
}

// IsLeader reports whether this candidate holds a live leader's lease (as
// far as it knows: a lease is live until its Done is closed).
func (e *Election) IsLeader() bool { return e.current() != nil }

// Resign gives up leadership by releasing the lease, so that another
// candidate can take over at once. It returns an error wrapping
// ErrNotLeader if this candidate does not lead (any more).
func (e *Election) Resign(ctx context.Context) error {
	e.mu.Lock()
	l := e.lease
	e.lease = nil
	e.mu.Unlock()
	if l == nil || l.Err() != nil {
		return fmt.Errorf("lock: resign %q: %w", e.key, ErrNotLeader)
	}
	if err := l.Release(ctx); err != nil {
		return fmt.Errorf("lock: resign %q: %w: %w", e.key, ErrNotLeader, err)
	}
	return nil
}

// Leader returns the current leader as the engine sees it: its owner id,
// value (Holder.Meta) and the fencing token of its term. ok is false when
// nobody leads.
func (e *Election) Leader(ctx context.Context) (h Holder, ok bool, err error) {
	return e.lk.Holder(ctx, e.key)
}

// Observe returns a channel that receives the leader each time it changes
// (a new owner or a new term), starting with the current one; a zero
// Holder means nobody leads. It polls every ObserveEvery, so terms shorter
// than that may be missed. Polling errors are skipped. The channel is
// closed when ctx ends; a slow reader delays polling but misses nothing
// that was seen.
func (e *Election) Observe(ctx context.Context) <-chan Holder {
	ch := make(chan Holder)
	go func() {
		defer close(ch)
		t := e.lk.clk.NewTicker(e.every)
		defer t.Stop()
		var last Holder
		first := true
		for {
			h, held, err := e.Leader(ctx)
			if err == nil {
				if !held {
					h = Holder{}
				}
				if first || h.Owner != last.Owner || h.Token != last.Token {
					first = false
					last = h
					select {
					case ch <- h:
					case <-ctx.Done():
						return
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
		}
	}()
	return ch
}
