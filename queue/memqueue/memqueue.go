package memqueue

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/queue/driver"
)

// driverMinPriority and driverMaxPriority mirror queue.MinPriority and
// queue.MaxPriority; priorities outside are clamped.
const driverMinPriority, driverMaxPriority = -9, 9

// entrySlab is how many entries of one Publish share an allocation.
const entrySlab = 64

// DefaultDedupWindow is how long DedupIDs are remembered when
// Options.DedupWindow is zero.
const DefaultDedupWindow = 10 * time.Minute

// Options configures a Driver. A nil *Options means the defaults.
type Options struct {
	// Clock is the time source for delays, leases and the dedup window
	// (default real time). Tests pass a *clock.Fake.
	Clock clock.Clock
	// MaxBody is the largest body accepted (0: no limit of its own).
	MaxBody int
	// DedupWindow is how long a DedupID is remembered per topic (default
	// DefaultDedupWindow).
	DedupWindow time.Duration
}

// Driver is an in-process queue backend with the full semantics of
// package queue/driver: fan-out subscriptions, priorities, delays,
// per-key ordering, leases, delivery counts and dead-letter queues.
// Messages live in process memory only: "durable" means "until the
// process exits".
//
// A Driver is safe for concurrent use. The zero value is not usable; call
// New.
type Driver struct {
	clk     clock.Clock
	opts    Options
	handles atomic.Uint64

	mu     sync.RWMutex
	topics map[string]*topic

	faultMu sync.Mutex
	faults  map[string][]error
	hook    atomic.Pointer[func(op string) error]
}

type topic struct {
	// subs is replaced (copy-on-write) under mu and read without it, so
	// that consumers never wait for a Publish to the topic.
	subs   atomic.Pointer[map[string]*subLock]
	mu     sync.Mutex // guards dedup and dedupQ, and serialises writers of subs
	dedup  map[string]time.Time
	dedupQ []dedupItem
}

type dedupItem struct {
	id  string
	exp time.Time
}

type subLock struct {
	mu sync.Mutex
	s  *sub
}

// New returns an empty in-process queue.
func New(opts *Options) *Driver {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	return &Driver{clk: clock.Or(o.Clock), opts: o, topics: map[string]*topic{}, faults: map[string][]error{}}
}

// Local marks the driver as in-process (no spans).
func (*Driver) Local() {}

// Limits reports the MaxBody option.
func (d *Driver) Limits() driver.Limits {
	return driver.Limits{MaxBody: d.opts.MaxBody, MaxBatch: 10000}
}

// DedupWindow reports how long DedupIDs are remembered.
func (d *Driver) DedupWindow() time.Duration { return d.opts.DedupWindow }

func (d *Driver) topic(name string, create bool) *topic {
	d.mu.RLock()
	t := d.topics[name]
	d.mu.RUnlock()
	if t != nil || !create {
		return t
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if t = d.topics[name]; t == nil {
		t = &topic{dedup: map[string]time.Time{}}
		t.subs.Store(&map[string]*subLock{})
		d.topics[name] = t
	}
	return t
}

// enter begins operation op on a subscription: the injected fault for op
// if one is set, else the subscription.
func (d *Driver) enter(op, topicName, name string) (*subLock, error) {
	if err := d.fault(op); err != nil {
		return nil, err
	}
	return d.sub(topicName, name)
}

func (d *Driver) sub(topicName, name string) (*subLock, error) {
	t := d.topic(topicName, false)
	if t == nil {
		return nil, driver.ErrNotFound
	}
	s := (*t.subs.Load())[name]
	if s == nil {
		return nil, driver.ErrNotFound
	}
	return s, nil
}

// Subscribe implements driver.Queue.
func (d *Driver) Subscribe(ctx context.Context, topicName, name string) error {
	if err := d.fault("subscribe"); err != nil {
		return err
	}
	t := d.topic(topicName, true)
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.subs.Load()
	if old[name] == nil {
		subs := make(map[string]*subLock, len(old)+1)
		for k, v := range old {
			subs[k] = v
		}
		subs[name] = &subLock{s: newSub(d)}
		t.subs.Store(&subs)
	}
	return nil
}

// Publish implements driver.Queue.
func (d *Driver) Publish(ctx context.Context, topicName string, msgs []driver.Message) error {
	if err := d.fault("publish"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t := d.topic(topicName, true)
	now := d.clk.Now()
	t.mu.Lock()
	for len(t.dedupQ) > 0 && !t.dedupQ[0].exp.After(now) {
		it := t.dedupQ[0]
		if exp, ok := t.dedup[it.id]; ok && !exp.After(now) {
			delete(t.dedup, it.id)
		}
		t.dedupQ = t.dedupQ[1:]
	}
	keep := msgs
	for i := range msgs {
		id := msgs[i].DedupID
		if id == "" {
			continue
		}
		if exp, ok := t.dedup[id]; ok && exp.After(now) {
			if len(keep) == len(msgs) {
				keep = append([]driver.Message(nil), msgs[:i]...)
			}
			continue
		}
		exp := now.Add(d.opts.DedupWindow)
		t.dedup[id] = exp
		t.dedupQ = append(t.dedupQ, dedupItem{id, exp})
		if len(keep) != len(msgs) {
			keep = append(keep, msgs[i])
		}
	}
	// Subscriptions are filled under their own locks only: the topic's
	// lock covered the dedup check, so consumers of one subscription never
	// wait for the copies to another.
	subs := *t.subs.Load()
	t.mu.Unlock()
	for _, sl := range subs {
		// Entries are allocated in slabs of up to entrySlab (settled
		// entries drop their message, so a slab keeps no bodies alive).
		var slab []entry
		sl.mu.Lock()
		for i := range keep {
			if len(slab) == 0 {
				slab = make([]entry, min(entrySlab, len(keep)-i))
			}
			e := &slab[0]
			slab = slab[1:]
			e.msg = keep[i]
			e.msg.Priority = min(max(e.msg.Priority, driverMinPriority), driverMaxPriority)
			sl.s.add(e, now)
		}
		if sl.s.woke {
			sl.s.woke = false
			sl.s.wake()
		}
		sl.mu.Unlock()
	}
	return nil
}

// Receive implements driver.Queue.
func (d *Driver) Receive(ctx context.Context, topicName, name string, max int, vis time.Duration) ([]driver.Delivery, error) {
	return d.ReceiveInto(ctx, topicName, name, nil, max, vis)
}

// ReceiveInto implements driver.ReceiverInto: Receive appending to
// buf[:0].
func (d *Driver) ReceiveInto(ctx context.Context, topicName, name string, buf []driver.Delivery, max int, vis time.Duration) ([]driver.Delivery, error) {
	sl, err := d.enter("receive", topicName, name)
	if err != nil {
		return nil, err
	}
	now := d.clk.Now()
	sl.mu.Lock()
	out := sl.s.receive(buf[:0], max, vis, now)
	sl.mu.Unlock()
	return out, nil
}

// Ack implements driver.Queue.
func (d *Driver) Ack(ctx context.Context, topicName, name string, handles []string) error {
	sl, err := d.enter("ack", topicName, name)
	if err != nil {
		return err
	}
	now := d.clk.Now()
	sl.mu.Lock()
	defer sl.mu.Unlock()
	s := sl.s
	s.tick(now)
	for _, h := range handles {
		if e := s.byHandle(h); e != nil {
			s.unlease(e)
			s.remove(e, now)
			e.forget()
		}
	}
	return nil
}

// Nack implements driver.Queue.
func (d *Driver) Nack(ctx context.Context, topicName, name, handle string, n driver.Nack) error {
	sl, err := d.enter("nack", topicName, name)
	if err != nil {
		return err
	}
	now := d.clk.Now()
	sl.mu.Lock()
	defer sl.mu.Unlock()
	e := sl.s.lease(handle, now)
	if e == nil {
		return driver.ErrNotLeased
	}
	sl.s.nack(e, n, now)
	return nil
}

// Extend implements driver.Queue.
func (d *Driver) Extend(ctx context.Context, topicName, name, handle string, vis time.Duration) error {
	sl, err := d.enter("extend", topicName, name)
	if err != nil {
		return err
	}
	now := d.clk.Now()
	sl.mu.Lock()
	defer sl.mu.Unlock()
	s := sl.s
	e := s.lease(handle, now)
	if e == nil {
		return driver.ErrNotLeased
	}
	e.deadline = now.Add(vis)
	heap.Push(&s.expiry, &leaseItem{es: []*entry{e}, leases: []uint64{e.lease}, deadline: e.deadline})
	return nil
}
