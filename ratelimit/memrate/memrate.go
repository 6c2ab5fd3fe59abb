package memrate

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
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
	// key of its shard (of another shard if its own holds none) is dropped
	// (its limit restarts fresh, which is more permissive for that key).
	// Below MaxKeys, only keys whose state is back to fresh and that went
	// unused for a Period are dropped. Default DefaultMaxKeys.
	MaxKeys int
	// Limiter configures the ratelimit.Limiter that New wraps around the
	// driver; its Clock defaults to Clock.
	Limiter *ratelimit.Options
}

// Driver is the in-process rate-limiting backend. It keeps one state per
// key, sharded by key hash, each shard behind its own mutex with its own
// least-recently-used list. A key whose state has returned to fresh (so
// forgetting it changes no decision) and that has not been used for a
// Period is dropped as new keys arrive; a key still inside its window is
// dropped only when MaxKeys keys are held. The total number of keys is
// capped by Options.MaxKeys, exactly.
//
// Every algorithm uses exact integer-nanosecond state (package doc says
// why not golang.org/x/time/rate).
//
// A Driver is safe for concurrent use. Create one with NewDriver.
type Driver struct {
	p       algo.Prepared
	clk     clock.Clock
	seed    maphash.Seed
	maxKeys int64
	grace   int64 // an idle key unused for this long (the Period) is dropped
	// With no Clock option, time is read from the monotonic clock only
	// (one clock read instead of time.Now's two): base plus the monotonic
	// time elapsed since it, in Unix nanoseconds. It cannot jump when the
	// wall clock is stepped.
	realTime bool
	base     time.Time
	baseNs   int64
	_        [64]byte
	count    atomic.Int64 // keys held, all shards; only inserts and drops write it
	_        [56]byte
	shards   [shardCount]shard
}

type shard struct {
	mu   sync.Mutex
	m    map[string]*entry
	head entry    // sentinel of the LRU list: head.next is most recent
	_    [48]byte // 192 bytes: shards share no cache line
}

type entry struct {
	key        string
	prev, next *entry
	last       int64 // time of the last decision, Unix ns
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
		p:       algo.Prepare(lim),
		clk:     clock.Or(o.Clock),
		seed:    maphash.MakeSeed(),
		maxKeys: int64(o.MaxKeys),
		grace:   int64(lim.Period),
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
func (d *Driver) Limit() driver.Limit { return d.p.L }

// Len returns the number of keys currently held.
func (d *Driver) Len() int { return int(d.count.Load()) }

// Allow decides n units for key at the clock's current time. It never
// fails; ctx is unused.
func (d *Driver) Allow(_ context.Context, key string, n int) (dec driver.Decision, _ error) {
	var now int64
	if d.realTime {
		now = d.baseNs + int64(time.Since(d.base))
	} else {
		now = d.clk.Now().UnixNano()
	}
	d.allowInto(&dec, now, key, n)
	return dec, nil
}

// AllowAt decides n units for key at time now. The caller has validated the
// arguments (ratelimit.Limiter does).
func (d *Driver) AllowAt(now time.Time, key string, n int) (dec driver.Decision) {
	d.allowInto(&dec, now.UnixNano(), key, n)
	return dec
}

// allowInto decides into *dec, which must be the zero Decision.
func (d *Driver) allowInto(dec *driver.Decision, now int64, key string, n int) {
	s := &d.shards[maphash.String(d.seed, key)&(shardCount-1)]
	s.mu.Lock()
	e := s.head.next
	if e == &s.head || e.key != key { // not the shard's most recent key
		e = s.m[key]
		if e == nil {
			if e = d.insert(s, key, now); e == nil {
				// Every key is held and none could be dropped (the other
				// shards were busy and this one is empty): decide on a
				// fresh state, as if the key had been dropped.
				s.mu.Unlock()
				var st algo.State
				d.p.AllowInto(dec, &st, now, n)
				return
			}
		} else {
			e.unlink()
			s.pushFront(e)
		}
	}
	e.last = now
	d.p.AllowInto(dec, &e.st, now, n)
	s.mu.Unlock()
}

// insert adds a fresh entry for key to s (whose lock is held) and returns
// it, or nil if MaxKeys keys are held and none could be dropped. It first
// drops idle entries from the LRU tail (at most a few, reusing one), then
// takes a free slot under MaxKeys or, with none, drops the least recently
// used key of s (or of another shard that is not busy, if s is empty).
func (d *Driver) insert(s *shard, key string, now int64) *entry {
	var e *entry
	for i := 0; i < 4; i++ {
		t := s.head.prev
		if t == &s.head || !d.idle(t, now) {
			break
		}
		s.remove(t)
		d.count.Add(-1)
		if e == nil {
			e = t
		}
	}
	if !d.reserve() {
		if t := s.head.prev; t != &s.head {
			s.remove(t) // its slot is taken over
			if e == nil {
				e = t
			}
		} else if !d.dropElsewhere(s) {
			return nil
		}
	}
	if e == nil {
		e = &entry{}
	} else {
		e.st.Reset()
	}
	e.key = key
	s.m[key] = e
	s.pushFront(e)
	return e
}

// reserve takes one of the MaxKeys slots if one is free.
func (d *Driver) reserve() bool {
	for {
		c := d.count.Load()
		if c >= d.maxKeys {
			return false
		}
		if d.count.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

// dropElsewhere drops the least recently used key of some other shard
// whose lock is free, so its slot can be taken over; false if none.
func (d *Driver) dropElsewhere(own *shard) bool {
	for i := range d.shards {
		o := &d.shards[i]
		if o == own || !o.mu.TryLock() {
			continue
		}
		t := o.head.prev
		if t != &o.head {
			o.remove(t)
		}
		o.mu.Unlock()
		if t != &o.head {
			return true
		}
	}
	return false
}

// idle reports whether e can be dropped without changing any decision and
// has gone unused for a Period (so a key in steady use is not dropped and
// re-created over and over just because its limit is generous).
func (d *Driver) idle(e *entry, now int64) bool {
	return now-e.last >= d.grace && algo.Idle(d.p.L, &e.st, now)
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
