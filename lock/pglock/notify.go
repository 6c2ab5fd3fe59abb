package pglock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Notify returns a channel that is closed when key is released by any
// Driver on the same table and channel, or earlier (when the listening
// connection fails or is closed). Package lock calls it while waiting, so
// that a waiter retries as soon as the holder releases instead of at its
// next poll; expiry is not announced, and lock's backoff timer covers it.
//
// All subscriptions of a Driver share one connection that runs LISTEN. It
// is taken out of db, which must then be a *pgxpool.Pool (the connection is
// hijacked from the pool and closed when idle); with any other DB, Notify
// returns an error and package lock polls instead. The connection closes
// after Options.ListenIdle without subscribers, or on Close.
//
// The channel is ready for every release committed after Notify returns:
// LISTEN is in effect before the first subscription is registered.
func (d *Driver) Notify(ctx context.Context, key string) (<-chan struct{}, func(), error) {
	if err := checkKey(key); err != nil {
		return nil, nil, err
	}
	for {
		d.mu.Lock()
		ls := d.ls
		if ls == nil {
			var err error
			ls, err = d.listen(ctx)
			if err != nil {
				d.mu.Unlock()
				return nil, nil, err
			}
			d.ls = ls
		}
		d.mu.Unlock()
		if ch, stop, ok := ls.add(key); ok {
			return ch, stop, nil
		}
		// ls died (idle, failed or closed) after we read it: retire it
		// and start another.
		d.mu.Lock()
		if d.ls == ls {
			d.ls = nil
		}
		d.mu.Unlock()
	}
}

// listen opens the listening connection and runs LISTEN on it. d.mu is
// held.
func (d *Driver) listen(ctx context.Context) (*listener, error) {
	pool, ok := d.db.(*pgxpool.Pool)
	if !ok {
		return nil, errors.New("pglock: Notify needs the DB to be a *pgxpool.Pool")
	}
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{d.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("pglock: listen on %q: %w", d.channel, err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	ls := &listener{
		conn: conn, idle: d.idle, cancel: cancel, done: make(chan struct{}),
		subs: make(map[string]map[*subscription]struct{}),
	}
	ls.idleTimer = time.AfterFunc(d.idle, ls.idleCheck)
	go ls.run(lctx)
	return ls, nil
}

// listener is one LISTEN connection and the subscriptions it serves.
type listener struct {
	conn   *pgx.Conn
	idle   time.Duration
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned and conn is closed

	mu        sync.Mutex
	dead      bool
	n         int
	subs      map[string]map[*subscription]struct{}
	idleTimer *time.Timer
}

type subscription struct {
	ch chan struct{}
}

// add registers a subscription on key; ok is false if the listener has
// died.
func (ls *listener) add(key string) (<-chan struct{}, func(), bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.dead {
		return nil, nil, false
	}
	s := &subscription{ch: make(chan struct{})}
	m := ls.subs[key]
	if m == nil {
		m = make(map[*subscription]struct{})
		ls.subs[key] = m
	}
	m[s] = struct{}{}
	ls.n++
	ls.idleTimer.Stop()
	var once sync.Once
	stop := func() { once.Do(func() { ls.remove(key, s) }) }
	return s.ch, stop, true
}

// remove drops s if it is still registered (it is not once woken).
func (ls *listener) remove(key string, s *subscription) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	m := ls.subs[key]
	if _, ok := m[s]; !ok {
		return
	}
	delete(m, s)
	if len(m) == 0 {
		delete(ls.subs, key)
	}
	ls.decLocked()
}

func (ls *listener) decLocked() {
	ls.n--
	if ls.n == 0 && !ls.dead {
		ls.idleTimer.Reset(ls.idle)
	}
}

// wake closes and unregisters every subscription on key.
func (ls *listener) wake(key string) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for s := range ls.subs[key] {
		close(s.ch)
		ls.decLocked()
	}
	delete(ls.subs, key)
}

// kill marks the listener dead and wakes every subscriber.
func (ls *listener) kill() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.dead {
		return
	}
	ls.dead = true
	ls.idleTimer.Stop()
	for key, m := range ls.subs {
		for s := range m {
			close(s.ch)
		}
		delete(ls.subs, key)
	}
	ls.n = 0
	ls.cancel()
}

func (ls *listener) idleCheck() {
	ls.mu.Lock()
	idle := ls.n == 0
	ls.mu.Unlock()
	if idle {
		ls.kill()
	}
}

func (ls *listener) run(ctx context.Context) {
	defer close(ls.done)
	for {
		n, err := ls.conn.WaitForNotification(ctx)
		if err != nil {
			ls.kill()
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = ls.conn.Close(cctx)
			cancel()
			return
		}
		ls.wake(n.Payload)
	}
}

// shutdown kills the listener and waits until its connection is closed.
func (ls *listener) shutdown() {
	ls.kill()
	<-ls.done
}
