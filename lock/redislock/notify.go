package redislock

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The release script publishes an empty message on "<lease key>:free" when
// the waiters mark "<lease key>:w" was set (it deletes the mark with the
// lease); Notify sets the mark after it subscribed. Notify subscribes waiters to it over one pub/sub connection per Driver,
// opened when the first waiter arrives and closed idleClose after the
// last one left. Expiry is not published (that would need keyspace events); the
// waiter's backoff timer covers it.

// notifier is the pub/sub state of a Driver while anyone waits.
type notifier struct {
	ps      *redis.PubSub
	subs    map[string]map[*waiter]struct{}
	pending map[string]chan struct{} // closed when SUBSCRIBE is confirmed
	idle    *time.Timer              // closes ps after idleClose without waiters
}

type waiter struct {
	ch   chan struct{}
	once sync.Once
}

func (w *waiter) fire() { w.once.Do(func() { close(w.ch) }) }

// confirmWait bounds how long Notify waits for Redis to confirm a new
// subscription before it lets the caller go on (polling covers the rest).
const confirmWait = 250 * time.Millisecond

// idleClose is how long the pub/sub connection stays open after the last
// waiter left, so that a waiter's next attempt does not dial again.
const idleClose = 2 * time.Second

func freeChannel(leaseKey string) string { return leaseKey + ":free" }

// waitersKey is the waiters mark of a lease: set by Notify, deleted by the
// release script together with the lease, which publishes only if the
// mark existed. It shares the lease's hash slot.
func waitersKey(leaseKey string) string { return leaseKey + ":w" }

// markMin is the shortest life of a waiters mark. A mark lives at least as
// long as the lease it marks, and at least markMin: every waiter renews it
// on each attempt (package lock calls Notify before each one, at least
// every PollMax), and a stale mark costs only one PUBLISH nobody hears.
const markMin = time.Minute

var markScript = redis.NewScript(`
redis.call('SET', KEYS[2], '1', 'PX', math.max(redis.call('PTTL', KEYS[1]), tonumber(ARGV[1])))
return 1`)

// Notify implements driver.Notifier: the channel is closed after the key
// is released by any holder (not when it expires). It returns after Redis
// confirmed the subscription, so no later release is missed while the
// pub/sub connection stays up.
func (d *Driver) Notify(ctx context.Context, key string) (<-chan struct{}, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	lk := d.LeaseKey(key)
	ch := freeChannel(lk)
	w := &waiter{ch: make(chan struct{})}
	d.nmu.Lock()
	n := d.n
	if n == nil {
		n = &notifier{ps: d.c.Subscribe(context.Background()), subs: map[string]map[*waiter]struct{}{}, pending: map[string]chan struct{}{}}
		d.n = n
		go d.receive(n)
	}
	if n.idle != nil {
		n.idle.Stop()
		n.idle = nil
	}
	set := n.subs[ch]
	if set == nil {
		set = map[*waiter]struct{}{}
		n.subs[ch] = set
		n.pending[ch] = make(chan struct{})
		if err := n.ps.Subscribe(ctx, ch); err != nil {
			delete(n.subs, ch)
			delete(n.pending, ch)
			d.closeIdleLocked(n)
			d.nmu.Unlock()
			return nil, nil, err
		}
	}
	set[w] = struct{}{}
	confirmed := n.pending[ch]
	d.nmu.Unlock()

	var once sync.Once
	stop := func() { once.Do(func() { d.unsubscribe(n, ch, w) }) }
	if confirmed != nil {
		t := time.NewTimer(confirmWait)
		defer t.Stop()
		select {
		case <-confirmed:
		case <-t.C:
		case <-ctx.Done():
			stop()
			return nil, nil, ctx.Err()
		}
	}
	// Mark the key as waited for, after subscribing: a release from now on
	// publishes. Without the mark a release might not, so Notify fails
	// (package lock then polls).
	if err := markScript.Run(ctx, d.c, []string{lk, waitersKey(lk)}, markMin.Milliseconds()).Err(); err != nil {
		stop()
		return nil, nil, err
	}
	return w.ch, stop, nil
}

func (d *Driver) unsubscribe(n *notifier, ch string, w *waiter) {
	d.nmu.Lock()
	defer d.nmu.Unlock()
	set := n.subs[ch]
	delete(set, w)
	if len(set) > 0 {
		return
	}
	delete(n.subs, ch)
	delete(n.pending, ch)
	_ = n.ps.Unsubscribe(context.Background(), ch)
	d.closeIdleLocked(n)
}

// closeIdleLocked arranges for n's connection to close in idleClose if
// nobody waits any more. d.nmu is held.
func (d *Driver) closeIdleLocked(n *notifier) {
	if len(n.subs) > 0 || n.idle != nil {
		return
	}
	n.idle = time.AfterFunc(idleClose, func() {
		d.nmu.Lock()
		defer d.nmu.Unlock()
		if len(n.subs) > 0 || d.n != n {
			return
		}
		d.n = nil
		_ = n.ps.Close()
	})
}

// receive dispatches n's messages until its connection is closed.
func (d *Driver) receive(n *notifier) {
	for {
		msg, err := n.ps.Receive(context.Background())
		if err != nil {
			if errors.Is(err, redis.ErrClosed) {
				return
			}
			d.nmu.Lock()
			closed := d.n != n
			d.nmu.Unlock()
			if closed {
				return
			}
			time.Sleep(10 * time.Millisecond) // the connection is down; go-redis redials on the next Receive
			continue
		}
		d.nmu.Lock()
		switch m := msg.(type) {
		case *redis.Subscription:
			if c := n.pending[m.Channel]; c != nil && m.Kind == "subscribe" {
				close(c)
				n.pending[m.Channel] = nil
			}
		case *redis.Message:
			for w := range n.subs[m.Channel] {
				w.fire()
			}
		}
		d.nmu.Unlock()
	}
}
