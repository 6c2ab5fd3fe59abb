package idgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/idgen/driver"
	"github.com/scalekit-go/scalekit/internal/backoff"
)

var (
	// ErrNodeLeaseLost means a node id lease expired or was taken over;
	// a Snowflake bound to it stops issuing IDs.
	ErrNodeLeaseLost = driver.ErrLeaseLost
	// ErrNoNodeID means every node id of the namespace is leased.
	ErrNoNodeID = driver.ErrNoneFree
)

// NodeLeaseOptions configures AcquireNode. A nil *NodeLeaseOptions means
// the defaults of every field.
type NodeLeaseOptions struct {
	// TTL is the lease duration (default 30s, minimum 10ms).
	TTL time.Duration
	// RenewEvery is the renewal period (default TTL/3); each renewal is
	// jittered by up to ±10% so that many generators do not renew in step.
	RenewEvery time.Duration
	// Clock is the time source (default the real clock).
	Clock clock.Clock
}

// NodeLease is a node id leased from a NodeIDs driver and renewed in the
// background until Release. If renewal fails for so long that the lease may
// have expired on the engine, the lease counts as lost: Done is closed, Err
// says why, and a Snowflake bound to it returns ErrNodeLeaseLost. The lease
// is declared lost before the engine's TTL runs out (at TTL minus one
// renewal period after the last successful renewal) so that no other
// generator can hold the id while this one still issues.
//
// A NodeLease is safe for concurrent use.
type NodeLease struct {
	d     driver.NodeIDs
	ns    string
	id    int64
	token string
	ttl   time.Duration
	every time.Duration
	clk   clock.Clock

	lost    atomic.Bool
	done    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	mu      sync.Mutex
	err     error
	valid   time.Time // local deadline of the current lease
	once    sync.Once
}

// AcquireNode leases a node id in [0, maxID] of namespace from d and starts
// renewing it. maxID is usually Layout.MaxNode().
func AcquireNode(ctx context.Context, d driver.NodeIDs, namespace string, maxID int64, opts *NodeLeaseOptions) (*NodeLease, error) {
	var o NodeLeaseOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case d == nil:
		return nil, errors.New("idgen: AcquireNode with a nil driver")
	case namespace == "":
		return nil, errors.New("idgen: AcquireNode with an empty namespace")
	case maxID < 0:
		return nil, fmt.Errorf("idgen: AcquireNode with maxID %d < 0", maxID)
	case o.TTL < 0 || o.RenewEvery < 0:
		return nil, fmt.Errorf("idgen: negative TTL (%v) or RenewEvery (%v)", o.TTL, o.RenewEvery)
	}
	if o.TTL == 0 {
		o.TTL = 30 * time.Second
	}
	if o.TTL < 10*time.Millisecond {
		return nil, fmt.Errorf("idgen: node lease TTL %v is below the minimum 10ms", o.TTL)
	}
	if o.RenewEvery == 0 {
		o.RenewEvery = o.TTL / 3
	}
	if o.RenewEvery >= o.TTL {
		return nil, fmt.Errorf("idgen: RenewEvery %v must be shorter than TTL %v", o.RenewEvery, o.TTL)
	}
	clk := clock.Or(o.Clock)
	start := clk.Now()
	id, token, err := d.Acquire(ctx, namespace, maxID, o.TTL)
	if err != nil {
		return nil, fmt.Errorf("idgen: acquire node id in %q: %w", namespace, err)
	}
	l := &NodeLease{
		d: d, ns: namespace, id: id, token: token, ttl: o.TTL, every: o.RenewEvery, clk: clk,
		done: make(chan struct{}), stop: make(chan struct{}), stopped: make(chan struct{}),
		valid: start.Add(o.TTL - o.RenewEvery),
	}
	go l.renewLoop()
	return l, nil
}

// ID returns the leased node id.
func (l *NodeLease) ID() int64 { return l.id }

// Namespace returns the namespace the id was leased in.
func (l *NodeLease) Namespace() string { return l.ns }

// Done returns a channel closed when the lease is lost or released.
func (l *NodeLease) Done() <-chan struct{} { return l.done }

// Err returns nil while the lease is held, and afterwards why it ended: an
// error wrapping ErrNodeLeaseLost, or ErrNodeLeaseLost itself after Release.
func (l *NodeLease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *NodeLease) lostErr() error {
	if err := l.Err(); err != nil {
		return err
	}
	return ErrNodeLeaseLost
}

// end marks the lease over with err (the first call wins).
func (l *NodeLease) end(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		l.lost.Store(true)
		close(l.done)
	})
}

// Renew extends the lease now, in addition to the background renewals.
func (l *NodeLease) Renew(ctx context.Context) error {
	if l.lost.Load() {
		return l.lostErr()
	}
	start := l.clk.Now()
	err := l.d.Renew(ctx, l.ns, l.id, l.token, l.ttl)
	switch {
	case err == nil:
		l.mu.Lock()
		if v := start.Add(l.ttl - l.every); v.After(l.valid) {
			l.valid = v
		}
		l.mu.Unlock()
		return nil
	case errors.Is(err, driver.ErrLeaseLost):
		err = fmt.Errorf("idgen: node id %d in %q: %w", l.id, l.ns, err)
		l.end(err)
		return err
	default:
		return fmt.Errorf("idgen: renew node id %d in %q: %w", l.id, l.ns, err)
	}
}

// Release stops renewal and frees the id on the engine. Afterwards a bound
// Snowflake returns ErrNodeLeaseLost.
func (l *NodeLease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.stopped
	wasLost := l.lost.Load()
	l.end(fmt.Errorf("idgen: node id %d in %q released: %w", l.id, l.ns, ErrNodeLeaseLost))
	if wasLost {
		return nil
	}
	if err := l.d.Release(ctx, l.ns, l.id, l.token); err != nil && !errors.Is(err, driver.ErrLeaseLost) {
		return fmt.Errorf("idgen: release node id %d in %q: %w", l.id, l.ns, err)
	}
	return nil
}

func (l *NodeLease) renewLoop() {
	defer close(l.stopped)
	retry := backoff.New(backoff.Policy{Initial: l.every / 10, Max: l.every}, l.clk)
	wait := jitter(l.every)
	for {
		t := l.clk.NewTimer(wait)
		select {
		case <-l.stop:
			t.Stop()
			return
		case <-l.done:
			t.Stop()
			return
		case <-t.C():
		}
		l.mu.Lock()
		valid := l.valid
		l.mu.Unlock()
		if !l.clk.Now().Before(valid) {
			l.end(fmt.Errorf("idgen: node id %d in %q: renewal failed until the lease could have expired: %w", l.id, l.ns, ErrNodeLeaseLost))
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.every)
		err := l.Renew(ctx)
		cancel()
		switch {
		case err == nil:
			retry.Reset()
			wait = jitter(l.every)
		case l.lost.Load():
			return
		default:
			d, _ := retry.Next()
			if left := valid.Sub(l.clk.Now()); d > left {
				d = left
			}
			wait = d
		}
	}
}

func jitter(d time.Duration) time.Duration {
	span := int64(d) / 5
	if span <= 0 {
		return d
	}
	return d - time.Duration(span/2) + time.Duration(rand.Int64N(span+1))
}

// StaticNodeIDs is a NodeIDs driver for deployments that assign node ids by
// configuration (a StatefulSet ordinal, say): Acquire always returns the
// configured id, and Renew and Release do nothing. It coordinates nothing,
// so two processes configured alike will collide. Its zero value hands out
// id 0.
type StaticNodeIDs struct {
	// ID is the node id handed out.
	ID int64
}

// Acquire returns the configured id, or an error if it exceeds maxID.
func (s StaticNodeIDs) Acquire(_ context.Context, _ string, maxID int64, _ time.Duration) (int64, string, error) {
	if s.ID < 0 || s.ID > maxID {
		return 0, "", fmt.Errorf("idgen: static node id %d outside [0, %d]", s.ID, maxID)
	}
	return s.ID, "static", nil
}

// Renew does nothing.
func (StaticNodeIDs) Renew(context.Context, string, int64, string, time.Duration) error { return nil }

// Release does nothing.
func (StaticNodeIDs) Release(context.Context, string, int64, string) error { return nil }
