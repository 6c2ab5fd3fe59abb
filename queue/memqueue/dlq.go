package memqueue

import (
	"context"
	"time"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// DeadLetters implements driver.Queue.
func (d *Driver) DeadLetters(ctx context.Context, topicName, name, after string, limit int) ([]driver.DeadLetter, error) {
	sl, err := d.enter("deadletters", topicName, name)
	if err != nil {
		return nil, err
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	s := sl.s
	var from uint64
	if after != "" {
		if de, ok := s.deadIdx[after]; ok {
			from = de.seq
		}
	}
	var out []driver.DeadLetter
	for _, de := range s.dead {
		if de.seq <= from {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, de.dl)
	}
	return out, nil
}

// DeadLetter implements driver.Queue.
func (d *Driver) DeadLetter(ctx context.Context, topicName, name, id string) (driver.DeadLetter, error) {
	sl, err := d.enter("deadletter", topicName, name)
	if err != nil {
		return driver.DeadLetter{}, err
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	de, ok := sl.s.deadIdx[id]
	if !ok {
		return driver.DeadLetter{}, driver.ErrNotFound
	}
	return de.dl, nil
}

// Redrive implements driver.Queue.
func (d *Driver) Redrive(ctx context.Context, topicName, name string, ids []string) (int, error) {
	sl, err := d.enter("redrive", topicName, name)
	if err != nil {
		return 0, err
	}
	now := d.clk.Now()
	sl.mu.Lock()
	defer sl.mu.Unlock()
	s := sl.s
	n := 0
	for _, id := range ids {
		de, ok := s.deadIdx[id]
		if !ok {
			continue
		}
		s.unbury(de)
		m := de.dl.Message
		m.NotBefore = now
		s.add(&entry{msg: m}, now)
		n++
	}
	if s.woke {
		s.woke = false
		s.wake()
	}
	return n, nil
}

// Purge implements driver.Queue.
func (d *Driver) Purge(ctx context.Context, topicName, name string, ids []string) (int, error) {
	sl, err := d.enter("purge", topicName, name)
	if err != nil {
		return 0, err
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	s := sl.s
	if ids == nil {
		n := len(s.dead)
		s.dead = nil
		clear(s.deadIdx)
		return n, nil
	}
	n := 0
	for _, id := range ids {
		if de, ok := s.deadIdx[id]; ok {
			s.unbury(de)
			n++
		}
	}
	return n, nil
}

// Stats implements driver.Queue.
func (d *Driver) Stats(ctx context.Context, topicName, name string) (driver.Stats, error) {
	sl, err := d.enter("stats", topicName, name)
	if err != nil {
		return driver.Stats{}, err
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.s.stats(d.clk.Now()), nil
}

// Notify implements driver.Notifier.
func (d *Driver) Notify(ctx context.Context, topicName, name string) (<-chan struct{}, func(), error) {
	sl, err := d.sub(topicName, name)
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan struct{}, 1)
	sl.mu.Lock()
	sl.s.notify[ch] = struct{}{}
	sl.mu.Unlock()
	return ch, func() {
		sl.mu.Lock()
		delete(sl.s.notify, ch)
		sl.mu.Unlock()
	}, nil
}

// FailNext makes the next call of operation op fail with err. Operations
// are "subscribe", "publish", "receive", "ack", "nack", "extend",
// "deadletters", "deadletter", "redrive", "purge" and "stats". Calls
// queue up: FailNext twice fails the next two calls.
func (d *Driver) FailNext(op string, err error) {
	d.faultMu.Lock()
	d.faults[op] = append(d.faults[op], err)
	d.faultMu.Unlock()
}

// SetFault installs f to be called at the start of every operation; a
// non-nil result fails the call (nil f removes it). It may also block to
// pause the operation.
func (d *Driver) SetFault(f func(op string) error) {
	if f == nil {
		d.hook.Store(nil)
		return
	}
	d.hook.Store(&f)
}

// ExpireLeases ends every lease of the subscription now, as if its
// consumers had died and the visibility timeout had passed: the messages
// are ready again and their handles stop working.
func (d *Driver) ExpireLeases(topicName, name string) {
	sl, err := d.sub(topicName, name)
	if err != nil {
		return
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	s := sl.s
	for i := range s.expiry {
		s.expiry[i].deadline = time.Time{}
	}
	for _, e := range s.slots {
		if e != nil {
			e.deadline = time.Time{}
		}
	}
	s.tick(d.clk.Now())
}

func (d *Driver) fault(op string) error {
	if f := d.hook.Load(); f != nil {
		if err := (*f)(op); err != nil {
			return err
		}
	}
	d.faultMu.Lock()
	defer d.faultMu.Unlock()
	if q := d.faults[op]; len(q) > 0 {
		err := q[0]
		d.faults[op] = q[1:]
		return err
	}
	return nil
}
