package redislock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/lock/driver"
)

// ErrNoQuorum is returned by Redlock when too few servers answered for a
// majority to be possible: the lock can be neither taken nor refused. It
// wraps (through errors.Join) the servers' errors.
var ErrNoQuorum = errors.New("redislock: no quorum of Redis servers")

// RedlockOptions configures a Redlock. A nil *RedlockOptions means the
// defaults.
type RedlockOptions struct {
	// Options applies to each server's driver (key prefix, key limit).
	Options
	// NodeTimeout bounds each call to one server (default 50ms): a slow
	// or unreachable server must not eat the lease's validity.
	NodeTimeout time.Duration
	// DriftFactor is the share of the TTL subtracted from the validity for
	// clock drift between the servers (default 0.01; 2ms are added).
	DriftFactor float64
}

// Redlock is a lock/driver.Locker over N independent Redis servers (not a
// Cluster, not replicas of each other), after the Redlock algorithm: a key
// is held when a majority of the servers accepted the lease within its
// validity, TTL − elapsed − drift; release and renewal go to every server.
// It keeps working while a minority of the servers is down.
//
// Redlock is efficiency-grade. It is sound only if processes are not
// paused, network delays are bounded and clocks run at nearly the same
// rate; a GC pause or SIGSTOP past the TTL lets two holders overlap. Use
// it to avoid doing work twice, and use redislock.Locker (one durable
// Redis), pglock or etcdlock with fenced writes where overlap would corrupt
// data. Fencing tokens are the largest of the majority's per-server
// counters, and the servers behind are raised to it before the lease is
// returned, so tokens increase while a majority keeps its data; a server
// that restarts without persistence must stay out for a TTL.
//
// Each call is one round trip to every server, in parallel (plus one when
// the servers' counters disagree after an acquisition); TryAcquire and
// Renew return as soon as a majority has answered either way, so a dead
// or slow server delays nothing; Release waits for the acquire calls of
// that lease still running (at most NodeTimeout), so that a late
// acquisition never outlives it. Redlock is safe
// for concurrent use; the zero value is not usable, call NewRedlock.
type Redlock struct {
	nodes   []*Driver
	quorum  int
	timeout time.Duration
	drift   float64

	// outstanding counts the acquire calls still running per lease
	// (key and owner), which TryAcquire left behind once a majority had
	// answered. Release waits for them (each is bounded by NodeTimeout)
	// before it deletes, so a late acquisition cannot outlive it.
	mu          sync.Mutex
	outstanding map[leaseID]*pendingCalls
}

type leaseID struct{ key, owner string }

type pendingCalls struct {
	n    int
	done chan struct{} // closed when n drops to 0
}

// begin registers one acquire call for id; the returned func ends it.
func (r *Redlock) begin(id leaseID) func() {
	r.mu.Lock()
	p := r.outstanding[id]
	if p == nil {
		p = &pendingCalls{done: make(chan struct{})}
		r.outstanding[id] = p
	}
	p.n++
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		p.n--
		if p.n == 0 {
			close(p.done)
			delete(r.outstanding, id)
		}
		r.mu.Unlock()
	}
}

// settle waits until no acquire call for id is running, or ctx ends.
func (r *Redlock) settle(ctx context.Context, id leaseID) error {
	for {
		r.mu.Lock()
		p := r.outstanding[id]
		r.mu.Unlock()
		if p == nil {
			return nil
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var (
	_ driver.Locker    = (*Redlock)(nil)
	_ driver.Limited   = (*Redlock)(nil)
	_ driver.Retryable = (*Redlock)(nil)
)

// NewRedlock returns a Redlock over clients, one per independent server.
// It does no I/O. An odd number of servers (3 or 5) is usual.
func NewRedlock(clients []redis.UniversalClient, opts *RedlockOptions) (*Redlock, error) {
	var o RedlockOptions
	if opts != nil {
		o = *opts
	}
	if len(clients) == 0 {
		return nil, errors.New("redislock: NewRedlock with no servers")
	}
	if o.NodeTimeout < 0 || !(o.DriftFactor >= 0 && o.DriftFactor < 0.5) { // NaN fails too
		return nil, fmt.Errorf("redislock: bad RedlockOptions (NodeTimeout %v, DriftFactor %v)", o.NodeTimeout, o.DriftFactor)
	}
	if o.NodeTimeout == 0 {
		o.NodeTimeout = 50 * time.Millisecond
	}
	if o.DriftFactor == 0 {
		o.DriftFactor = 0.01
	}
	r := &Redlock{quorum: len(clients)/2 + 1, timeout: o.NodeTimeout, drift: o.DriftFactor, outstanding: map[leaseID]*pendingCalls{}}
	for i, c := range clients {
		if c == nil {
			return nil, fmt.Errorf("redislock: NewRedlock: client %d is nil", i)
		}
		d, err := New(c, &o.Options)
		if err != nil {
			return nil, err
		}
		r.nodes = append(r.nodes, d)
	}
	return r, nil
}

// Quorum returns the number of servers that must agree.
func (r *Redlock) Quorum() int { return r.quorum }

// Limits implements driver.Limited.
func (r *Redlock) Limits() driver.Limits { return r.nodes[0].Limits() }

// IsRetryable implements driver.Retryable. ErrNoQuorum is final: it means
// the servers are unreachable, and Acquire returns it instead of waiting.
func (r *Redlock) IsRetryable(err error) bool {
	return !errors.Is(err, ErrNoQuorum) && isRetryable(err)
}

// validity is what is left of ttl after elapsed and the drift allowance.
func (r *Redlock) validity(ttl, elapsed time.Duration) time.Duration {
	return ttl - elapsed - time.Duration(float64(ttl)*r.drift) - 2*time.Millisecond
}

type reply struct {
	tok int64
	err error
}

// each calls fn on every server in parallel, each with its own timeout.
func (r *Redlock) each(ctx context.Context, fn func(ctx context.Context, i int, n *Driver) (int64, error)) []reply {
	out := make([]reply, len(r.nodes))
	var wg sync.WaitGroup
	for i, n := range r.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nctx, cancel := context.WithTimeout(ctx, r.timeout)
			defer cancel()
			out[i].tok, out[i].err = fn(nctx, i, n)
		}()
	}
	wg.Wait()
	return out
}

// errPending marks a server whose reply was not awaited because the
// outcome was already decided.
var errPending = errors.New("redislock: reply not awaited")

// decide calls fn on every server in parallel, like each, but returns as
// soon as the outcome is decided: a majority succeeded, or so many failed
// (with any error, refused included) that a majority is out of reach.
// Replies not awaited are errPending; their calls finish in the
// background. A slow or dead server thus delays nothing while a majority
// answers.
//
// track, if not nil, is called for each server's call before it starts and
// returns the function to call when that call has ended.
func (r *Redlock) decide(ctx context.Context, fn func(ctx context.Context, i int, n *Driver) (int64, error), track func() func()) []reply {
	type indexed struct {
		i int
		reply
	}
	results := make(chan indexed, len(r.nodes))
	for i, n := range r.nodes {
		end := func() {}
		if track != nil {
			end = track()
		}
		go func() {
			defer end()
			nctx, cancel := context.WithTimeout(ctx, r.timeout)
			defer cancel()
			tok, err := fn(nctx, i, n)
			results <- indexed{i, reply{tok, err}}
		}()
	}
	out := make([]reply, len(r.nodes))
	for i := range out {
		out[i].err = errPending
	}
	ok, failed := 0, 0
	for range r.nodes {
		x := <-results
		out[x.i] = x.reply
		if x.err == nil {
			ok++
		} else {
			failed++
		}
		if ok >= r.quorum || failed > len(r.nodes)-r.quorum {
			break
		}
	}
	return out
}

// tally counts successes, refusals (sentinel) and other errors; replies
// not awaited count as none of these.
func tally(rs []reply, refused error) (ok, no int, errs []error) {
	for _, x := range rs {
		switch {
		case x.err == nil:
			ok++
		case errors.Is(x.err, refused):
			no++
		case x.err == errPending:
		default:
			errs = append(errs, x.err)
		}
	}
	return ok, no, errs
}

func (r *Redlock) noQuorum(errs []error) error {
	return fmt.Errorf("%w (%d of %d needed): %w", ErrNoQuorum, r.quorum, len(r.nodes), errors.Join(errs...))
}

var raiseScript = redis.NewScript(`
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1`)

// TryAcquire implements driver.Locker: it takes the lease on every server
// it can and keeps it if a majority agreed within the validity; otherwise
// it releases what it took.
func (r *Redlock) TryAcquire(ctx context.Context, req driver.Request) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	start := time.Now()
	id := leaseID{req.Key, req.Owner}
	rs := r.decide(ctx, func(ctx context.Context, _ int, n *Driver) (int64, error) {
		// Registered before decide returns: decide starts every call
		// before it waits for any.
		return n.TryAcquire(ctx, req)
	}, func() func() { return r.begin(id) })
	ok, _, errs := tally(rs, driver.ErrLocked)
	if ok >= r.quorum && r.validity(req.TTL, time.Since(start)) > 0 {
		var top int64
		for _, x := range rs {
			if x.err == nil && x.tok > top {
				top = x.tok
			}
		}
		behind := false
		for _, x := range rs {
			behind = behind || (x.err == nil && x.tok < top)
		}
		if behind {
			// Raise the counters behind, so that any later majority,
			// which shares a server with this one, counts past top.
			r.each(ctx, func(ctx context.Context, i int, n *Driver) (int64, error) {
				if rs[i].err != nil || rs[i].tok >= top {
					return 0, nil
				}
				return 0, raiseScript.Run(ctx, n.c, []string{n.FenceKey(req.Key)}, top).Err()
			})
		}
		return top, nil
	}
	if ok > 0 {
		// Undo what was taken, after the calls still running have ended.
		bg := context.WithoutCancel(ctx)
		_ = r.settle(bg, id)
		r.release(bg, req.Key, req.Owner)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(errs) > len(r.nodes)-r.quorum {
		return 0, r.noQuorum(errs)
	}
	if ok >= r.quorum {
		return 0, fmt.Errorf("%w: the majority answered after the lease's validity ran out; try again", driver.ErrLocked)
	}
	return 0, driver.ErrLocked
}

// Renew implements driver.Locker: the lease is extended if a majority of
// the servers still had it and the renewal finished within the validity.
func (r *Redlock) Renew(ctx context.Context, key, owner string, ttl time.Duration) error {
	start := time.Now()
	rs := r.decide(ctx, func(ctx context.Context, _ int, n *Driver) (int64, error) { return 0, n.Renew(ctx, key, owner, ttl) }, nil)
	ok, no, errs := tally(rs, driver.ErrNotHeld)
	switch {
	case ok >= r.quorum && r.validity(ttl, time.Since(start)) > 0:
		return nil
	case ok >= r.quorum:
		return fmt.Errorf("redislock: renewal of %q took longer than the lease's validity", key)
	case no > len(r.nodes)-r.quorum:
		return driver.ErrNotHeld
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.noQuorum(errs)
}

// Release implements driver.Locker: it deletes the lease on every server.
// It returns ErrNotHeld when a majority no longer had it. It first waits
// for the acquire calls of this lease that TryAcquire left running (each
// bounded by NodeTimeout), so that none lands after the delete and leaves
// a lease behind.
func (r *Redlock) Release(ctx context.Context, key, owner string) error {
	if err := r.settle(ctx, leaseID{key, owner}); err != nil {
		return err
	}
	rs := r.release(ctx, key, owner)
	ok, no, errs := tally(rs, driver.ErrNotHeld)
	switch {
	case ok >= r.quorum:
		return nil
	case no > len(r.nodes)-r.quorum:
		return driver.ErrNotHeld
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.noQuorum(errs)
}

func (r *Redlock) release(ctx context.Context, key, owner string) []reply {
	return r.each(ctx, func(ctx context.Context, _ int, n *Driver) (int64, error) { return 0, n.Release(ctx, key, owner) })
}

// Holder implements driver.Locker: the holder is the owner that a majority
// of the servers report; its token is the largest they report and its TTL
// the shortest.
func (r *Redlock) Holder(ctx context.Context, key string) (driver.Holder, bool, error) {
	hs := make([]driver.Holder, len(r.nodes))
	held := make([]bool, len(r.nodes))
	rs := r.each(ctx, func(ctx context.Context, i int, n *Driver) (int64, error) {
		var err error
		hs[i], held[i], err = n.Holder(ctx, key)
		return 0, err
	})
	var errs []error
	votes := map[string]int{}
	for i, x := range rs {
		if x.err != nil {
			errs = append(errs, x.err)
			continue
		}
		if held[i] {
			votes[hs[i].Owner]++
		}
	}
	for i := range hs {
		if !held[i] || votes[hs[i].Owner] < r.quorum {
			continue
		}
		best := hs[i]
		for j := range hs {
			if held[j] && hs[j].Owner == best.Owner {
				best.Token = max(best.Token, hs[j].Token)
				if hs[j].TTL > 0 && (best.TTL == 0 || hs[j].TTL < best.TTL) {
					best.TTL = hs[j].TTL
				}
			}
		}
		return best, true, nil
	}
	if len(errs) > len(r.nodes)-r.quorum {
		return driver.Holder{}, false, r.noQuorum(errs)
	}
	return driver.Holder{}, false, nil
}
