package pgqueue

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

type pgtime = time.Time

// listener holds one connection in LISTEN and fans notifications out to
// the Notify channels of their topic. Notifications are lost while it is
// disconnected, so it wakes everyone after reconnecting; consumers poll
// as well, so a lost notification costs latency, never a message.
type listener struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	subs    map[string]map[chan struct{}]struct{}
	started bool
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

func newListener(pool *pgxpool.Pool) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	return &listener{pool: pool, subs: map[string]map[chan struct{}]struct{}{}, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

func (l *listener) add(topic string) (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	if l.subs[topic] == nil {
		l.subs[topic] = map[chan struct{}]struct{}{}
	}
	l.subs[topic][ch] = struct{}{}
	if !l.started {
		l.started = true
		go l.run()
	}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs[topic], ch)
		if len(l.subs[topic]) == 0 {
			delete(l.subs, topic)
		}
		l.mu.Unlock()
	}
}

func (l *listener) wake(topic string, all bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for t, chs := range l.subs {
		if !all && t != topic {
			continue
		}
		for ch := range chs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

func (l *listener) run() {
	defer close(l.done)
	delay := 50 * time.Millisecond
	for l.ctx.Err() == nil {
		if l.listen() {
			delay = 50 * time.Millisecond
		}
		t := time.NewTimer(delay)
		select {
		case <-l.ctx.Done():
		case <-t.C:
		}
		t.Stop()
		delay = min(delay*2, 5*time.Second)
	}
}

// listen runs one LISTEN session until it fails; it reports whether it
// got as far as listening.
func (l *listener) listen() bool {
	c, err := l.pool.Acquire(l.ctx)
	if err != nil {
		return false
	}
	conn := c.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(l.ctx, "LISTEN "+Channel); err != nil {
		return false
	}
	// Anything published while we were not listening went unheard.
	l.wake("", true)
	for {
		n, err := conn.WaitForNotification(l.ctx)
		if err != nil {
			return true
		}
		l.wake(n.Payload, false)
	}
}

func (l *listener) close() {
	l.mu.Lock()
	started := l.started
	l.started = true // no start after close
	l.mu.Unlock()
	l.cancel()
	if started {
		<-l.done
	}
}

// Notify implements driver.Notifier (not with PollOnly).
func (d *Driver) Notify(ctx context.Context, topic, sub string) (<-chan struct{}, func(), error) {
	if d.lis == nil {
		return nil, func() {}, nil
	}
	ch, stop := d.lis.add(topic)
	return ch, stop, nil
}
