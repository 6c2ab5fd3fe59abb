package natsqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// state returns the KV bucket that keeps, per subscription and stream
// sequence, what JetStream has no room for: the last handler error of a
// retried message and how many of its deliveries were not handed out
// (early deliveries of a delayed message).
func (d *Driver) state(ctx context.Context) (jetstream.KeyValue, error) {
	d.mu.Lock()
	kv := d.kv
	d.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	kv, err := d.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   d.opts.Prefix + "_STATE",
		TTL:      7 * 24 * time.Hour,
		Storage:  d.storage(),
		Replicas: d.opts.Replicas,
	})
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.kv = kv
	d.mu.Unlock()
	return kv, nil
}

func stateKey(topic, sub string, seq uint64) string {
	return nident(topic) + "." + nident(sub) + "." + strconv.FormatUint(seq, 10)
}

// msgState is a state entry: skipped deliveries and the last error.
type msgState struct {
	skips   int
	lastErr string
}

func (d *Driver) getState(ctx context.Context, topic, sub string, seq uint64) (msgState, uint64, error) {
	kv, err := d.state(ctx)
	if err != nil {
		return msgState{}, 0, err
	}
	e, err := kv.Get(ctx, stateKey(topic, sub, seq))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return msgState{}, 0, nil
	}
	if err != nil {
		return msgState{}, 0, err
	}
	a, b, _ := strings.Cut(string(e.Value()), "\n")
	n, _ := strconv.Atoi(a)
	return msgState{skips: n, lastErr: b}, e.Revision(), nil
}

func (d *Driver) putState(ctx context.Context, topic, sub string, seq uint64, st msgState) error {
	kv, err := d.state(ctx)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, stateKey(topic, sub, seq), []byte(strconv.Itoa(st.skips)+"\n"+st.lastErr))
	return err
}

// ackWait makes the consumer's AckWait the visibility asked for.
func (d *Driver) ackWait(ctx context.Context, topic, sub string, c *consumer, vis time.Duration) error {
	d.mu.Lock()
	same, jc0 := c.ackWait == vis, c.c
	d.mu.Unlock()
	if same {
		return nil
	}
	cfg := jc0.CachedInfo().Config
	cfg.AckWait = vis
	jc, err := d.js.UpdateConsumer(ctx, d.streamName(topic), cfg)
	if err != nil {
		return err
	}
	d.mu.Lock()
	c.c, c.ackWait = jc, vis
	d.mu.Unlock()
	return nil
}

// Receive implements driver.Queue: one no_wait pull on the subscription's
// durable consumer, whose AckWait is the visibility. A message fetched
// before its NotBefore goes back with NakWithDelay and counts as skipped.
func (d *Driver) Receive(ctx context.Context, topic, sub string, max int, vis time.Duration) ([]driver.Delivery, error) {
	c, err := d.consumer(ctx, topic, sub, false)
	if err != nil {
		return nil, err
	}
	if vis < time.Millisecond {
		vis = time.Millisecond
	}
	if err := d.ackWait(ctx, topic, sub, c, vis); err != nil {
		return nil, err
	}
	d.sweep()
	msgs, err := d.pull(ctx, c, d.streamName(topic), durable(sub), max)
	if err != nil && len(msgs) == 0 {
		return nil, err
	}
	out := make([]driver.Delivery, 0, len(msgs))
	ls := make([]lease, 0, len(msgs)) // the new leases, entered at the end under one lock
	now := time.Now()
	for _, m := range msgs {
		delivered, sseq, ok := ackMeta(m.Reply)
		if !ok {
			continue
		}
		var dl driver.Delivery
		if err := decode(m.Data, &dl.Message); err != nil {
			_ = m.Term() // not ours
			continue
		}
		var st msgState
		if delivered > 1 {
			if st, _, err = d.getState(ctx, topic, sub, sseq); err != nil {
				_ = m.Nak()
				continue
			}
		}
		if dl.Key != "" {
			head, err := d.gate(ctx, topic, sub, dl.Key, sseq)
			if err != nil {
				_ = m.Nak()
				continue
			}
			if !head {
				st.skips++
				if err := d.putState(ctx, topic, sub, sseq, st); err != nil {
					_ = m.Nak()
					continue
				}
				_ = m.NakWithDelay(GateDelay)
				continue
			}
		}
		if wait := dl.NotBefore.Sub(now); wait > 0 {
			st.skips++
			if err := d.putState(ctx, topic, sub, sseq, st); err != nil {
				_ = m.Nak()
				continue
			}
			_ = m.NakWithDelay(wait)
			continue
		}
		dl.Deliveries = int(delivered) - st.skips
		dl.LastError = st.lastErr
		dl.Handle = m.Reply
		ls = append(ls, lease{msg: m, topic: topic, sub: sub, sseq: sseq, n: dl.Deliveries,
			key: dl.Key, blob: m.Data, deadline: now.Add(vis - margin), ackWait: vis})
		out = append(out, dl)
	}
	if len(ls) > 0 {
		d.mu.Lock()
		for i := range ls {
			d.leases[ls[i].msg.Reply] = &ls[i]
		}
		d.mu.Unlock()
	}
	return out, nil
}

// pullWait bounds how long pull waits for the server to end a pull
// request (it always does, with a 404 or 408 status, unless the
// connection is lost).
const pullWait = 30 * time.Second

// pull asks the consumer for up to max messages that are available now
// (a no_wait pull request) and reads the answer on the subscription's
// inbox (see puller) until the server ends the request. jetstream's
// FetchNoWait gives up after one second; a message the server hands to a
// request the client has given up on is lost until its AckWait ends and
// then comes back with its delivery count raised, which a loaded cluster
// does (seen in CI). Here the client waits for the server's end of the
// request, bounded by ctx and pullWait.
func (d *Driver) pull(ctx context.Context, c *consumer, stream, consumer string, max int) ([]*nats.Msg, error) {
	p, err := d.puller(c)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leftovers()
	req := []byte(`{"batch":` + strconv.Itoa(max) + `,"no_wait":true}`)
	if err := d.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+stream+"."+consumer, p.inbox, req); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, pullWait)
	defer cancel()
	var out []*nats.Msg
	for len(out) < max {
		m, err := p.sub.NextMsgWithContext(ctx)
		if err != nil {
			return out, err
		}
		if len(m.Data) == 0 && m.Header.Get("Status") != "" {
			switch m.Header.Get("Status") {
			case "100": // heartbeat or flow control
				continue
			case "404", "408", "409":
				// no messages, request expired, or the request ended
				// (for example at a leader change): nothing more comes.
				return out, nil
			default:
				return out, fmt.Errorf("natsqueue: pull from %s: status %s %s", consumer, m.Header.Get("Status"), m.Header.Get("Description"))
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// margin is how much earlier than the server a Driver considers a lease
// over (the server's AckWait started when it sent the message).
const margin = 5 * time.Millisecond

// inFlight counts the live leases this Driver holds on sub.
func (d *Driver) inFlight(topic, sub string) int64 {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var n int64
	for _, l := range d.leases {
		if l.topic == topic && l.sub == sub && now.Before(l.deadline) {
			n++
		}
	}
	return n
}

// sweep forgets leases whose deadline passed long ago.
func (d *Driver) sweep() {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.leases) < 4096 {
		return
	}
	for h, l := range d.leases {
		if now.After(l.deadline.Add(time.Minute)) {
			delete(d.leases, h)
		}
	}
}

// take removes and returns the live lease of handle h.
func (d *Driver) take(h string) *lease {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.leases[h]
	if l == nil {
		return nil
	}
	delete(d.leases, h)
	if !time.Now().Before(l.deadline) {
		return nil
	}
	return l
}

// Ack implements driver.Queue: one ack per message, pipelined on the
// connection (they are flushed together). JetStream applies an ack after
// Ack returns (on a cluster, once the consumer's replicas agree), so
// Stats may count an acked message for a few milliseconds more.
func (d *Driver) Ack(ctx context.Context, topic, sub string, handles []string) error {
	var kvDel, keyed []*lease
	for _, h := range handles {
		l := d.take(h)
		if l == nil {
			continue
		}
		if err := l.msg.Ack(); err != nil {
			return err
		}
		if l.n > 1 {
			kvDel = append(kvDel, l)
		}
		if l.key != "" {
			keyed = append(keyed, l)
		}
	}
	if len(keyed) > 0 {
		// The acks must be through before the keys' next messages go.
		if err := d.flush(ctx); err != nil {
			return err
		}
		for _, l := range keyed {
			if err := d.release(ctx, l); err != nil {
				return err
			}
		}
	}
	if len(kvDel) > 0 {
		if kv, err := d.state(ctx); err == nil {
			for _, l := range kvDel {
				_ = kv.Purge(ctx, stateKey(l.topic, l.sub, l.sseq))
			}
		}
	}
	return d.flush(ctx)
}

func (d *Driver) flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	return d.nc.FlushWithContext(ctx)
}

// settle sends a terminal acknowledgement and waits for the server's
// confirmation, so that the consumer's counts reflect it on return.
func (d *Driver) settle(ctx context.Context, l *lease, body string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	_, err := d.nc.RequestWithContext(ctx, l.msg.Reply, []byte(body))
	return err
}

// Nack implements driver.Queue. A retry records the error and naks with
// the delay (NakWithDelay, so the retry does not come back at once); a
// dead letter is published to the topic's DLQ stream and then terminated;
// a drop terminates.
func (d *Driver) Nack(ctx context.Context, topic, sub, handle string, n driver.Nack) error {
	l := d.take(handle)
	if l == nil {
		return driver.ErrNotLeased
	}
	switch n.Action {
	case driver.ActionRetry:
		st, _, err := d.getState(ctx, topic, sub, l.sseq)
		if err != nil {
			return err
		}
		st.lastErr = n.Error
		if err := d.putState(ctx, topic, sub, l.sseq, st); err != nil {
			return err
		}
		if n.Delay > 0 {
			return l.msg.NakWithDelay(n.Delay)
		}
		if err := l.msg.Nak(); err != nil {
			return err
		}
		d.wake(topic)
		return nil
	case driver.ActionDeadLetter:
		if err := d.deadLetter(ctx, topic, sub, l, n); err != nil {
			return err
		}
	}
	if l.n > 1 {
		if kv, err := d.state(ctx); err == nil {
			_ = kv.Purge(ctx, stateKey(topic, sub, l.sseq))
		}
	}
	if err := d.settle(ctx, l, "+TERM"); err != nil {
		return err
	}
	return d.release(ctx, l)
}

// Extend implements driver.Queue with InProgress, which restarts the
// message's AckWait on the server.
func (d *Driver) Extend(ctx context.Context, topic, sub, handle string, vis time.Duration) error {
	d.mu.Lock()
	l := d.leases[handle]
	ok := l != nil && time.Now().Before(l.deadline)
	d.mu.Unlock()
	if !ok {
		return driver.ErrNotLeased
	}
	if err := l.msg.InProgress(); err != nil {
		return err
	}
	d.mu.Lock()
	l.deadline = time.Now().Add(l.ackWait - margin)
	d.mu.Unlock()
	return nil
}
