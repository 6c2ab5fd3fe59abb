package memrate

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/driver"
	"github.com/scalekit-go/scalekit/ratelimit/internal/algo"
)

const shardCount = 64

// DefaultMaxKeys is the default cap on the number of keys a Driver holds.
const DefaultMaxKeys = 100_000

// Options configure a memrate Driver. The zero value (or nil) is valid.
type Options struct {
	// Clock is the time source. Default real time. Tests pass a fake clock.
	Clock clock.Clock
	// MaxKeys caps the number of keys held, exactly: the Driver never
	// holds more. When a new key would exceed it, the least recently used
	// key of its shard is dropped (its limit restarts fresh, which is more
	// permissive for that key). Default DefaultMaxKeys.
	MaxKeys int
	// Limiter configures the ratelimit.Limiter that New wraps around the
	// driver; its Clock defaults to Clock.
	Limiter *ratelimit.Options
}

// Driver is the in-process rate-limiting backend. It keeps one state per
// key, sharded by key hash, each shard behind its own mutex. Keys whose
// state has returned to fresh (idle for long enough that forgetting them
// changes no decision) are evicted as new keys arrive, and the total number
// of keys is capped by Options.MaxKeys.
//
// Every algorithm uses exact integer-nanosecond state (package doc says
// why not golang.org/x/time/rate).
//
// A Driver is safe for concurrent use. Create one with NewDriver.
type Driver struct {
	lim         driver.Limit
	clk         clock.Clock
	seed        maphash.Seed
	mask        uint64          // shards in use minus one (a power of two ≤ MaxKeys)
	perShardMax [shardCount]int // caps that add up to MaxKeys exactly
	// With no Clock option, time is read from the monotonic clock only
	// (one clock read instead of time.Now's two): base plus the monotonic
	// time elapsed since it, in Unix nanoseconds. It cannot jump when the
	// wall clock is stepped.
	realTime bool
	base     time.Time
	baseNs   int64
	shards   [shardCount]shard
}

type shard struct {
	mu   sync.Mutex
	m    map[string]*entry
	head entry // sentinel of the LRU list: head.next is most recent
	_    [40]byte
}

type entry struct {
	key        string
	prev, next *entry
	st         algo.State
}

// NewDriver returns an in-process driver enforcing lim.
func NewDriver(lim driver.Limit, opts *Options) (*Driver, error) {
	if err := ratelimit.Validate(lim); err != nil {
		return nil, err
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	d := &Driver{
		lim:  lim,
		clk:  clock.Or(o.Clock),
		seed: maphash.MakeSeed(),
	}
	// Use as many shards as MaxKeys allows (a power of two, at most
	// shardCount) and split MaxKeys between them exactly, so that every
	// shard holds at least one key and all of them together MaxKeys.
	shards := shardCount
	for shards > o.MaxKeys {
		shards /= 2
	}
	d.mask = uint64(shards - 1)
	for i := range shards {
		d.perShardMax[i] = o.MaxKeys / shards
		if i < o.MaxKeys%shards {
			d.perShardMax[i]++
		}
	}
	if o.Clock == nil {
		d.realTime, d.base = true, time.Now()
		d.baseNs = d.base.UnixNano()
	}
	for i := range d.shards {
		s := &d.shards[i]
		s.m = make(map[string]*entry)
		s.head.next, s.head.prev = &s.head, &s.head
	}
	return d, nil
}

// New returns a ratelimit.Limiter over a new in-process Driver: the
// one-liner for an in-process limit (package ratelimit cannot offer it
// itself without an import cycle). Options.Limiter configures the Limiter.
// Use NewDriver for the bare driver, for example to run ratelimittest or
// to wrap it with ratelimit.New yourself.
func New(lim driver.Limit, opts *Options) (*ratelimit.Limiter, error) {
	d, err := NewDriver(lim, opts)
	if err != nil {
		return nil, err
	}
	var lo ratelimit.Options
	if opts != nil && opts.Limiter != nil {
		lo = *opts.Limiter
	}
	if lo.Clock == nil {
		lo.Clock = d.clk
	}
	return ratelimit.New(d, &lo)
}

// Clock returns the driver's time source; ratelimit.New uses it for Wait
// when its own Clock is nil.
func (d *Driver) Clock() clock.Clock { return d.clk }

// Limit returns the limit the driver enforces.
func (d *Driver) Limit() driver.Limit { return d.lim }

// Len returns the number of keys currently held.
func (d *Driver) Len() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Allow decides n units for key at the clock's current time. It never
// fails; ctx is unused.
func (d *Driver) Allow(_ context.Context, key string, n int) (driver.Decision, error) {
	if d.realTime {
		return d.allowAt(d.baseNs+int64(time.Since(d.base)), key, n), nil
	}
	return d.allowAt(d.clk.Now().UnixNano(), key, n), nil
}

// AllowAt decides n units for key at time now. The caller has validated the
// arguments (ratelimit.Limiter does).
func (d *Driver) AllowAt(now time.Time, key string, n int) driver.Decision {
	return d.allowAt(now.UnixNano(), key, n)
}

func (d *Driver) allowAt(now int64, key string, n int) driver.Decision {
	i := maphash.String(d.seed, key) & d.mask
	s := &d.shards[i]
	s.mu.Lock()
	e := s.m[key]
	if e == nil {
		e = d.insert(s, d.perShardMax[i], key, now)
	} else if s.head.next != e {
		e.unlink()
		s.pushFront(e)
	}
	dec := algo.Allow(d.lim, &e.st, now, n)
	s.mu.Unlock()
	return dec
}

// insert adds a fresh entry for key, first evicting idle entries from the
// LRU tail and, over the cap, the least recently used one.
func (d *Driver) insert(s *shard, capacity int, key string, now int64) *entry {
	for i := 0; i < 4; i++ {
		t := s.head.prev
		if t == &s.head || !d.idle(t, now) {
			break
		}
		s.remove(t)
	}
	for len(s.m) >= capacity {
		s.remove(s.head.prev)
	}
	e := &entry{key: key}
	s.m[key] = e
	s.pushFront(e)
	return e
}

func (d *Driver) idle(e *entry, now int64) bool {
	return algo.Idle(d.lim, &e.st, now)
}

func (s *shard) pushFront(e *entry) {
	e.prev, e.next = &s.head, s.head.next
	s.head.next.prev = e
	s.head.next = e
}

func (e *entry) unlink() {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (s *shard) remove(e *entry) {
	e.unlink()
	delete(s.m, e.key)
}
