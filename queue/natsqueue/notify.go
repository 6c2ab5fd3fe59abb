package natsqueue

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scalekit-go/scalekit/queue/driver"
)

var _ driver.Notifier = (*Driver)(nil)

// Wake-ups. After a Publish (or a redrive, or a retry without delay) is
// stored, the Driver publishes an empty core NATS message on the topic's
// wake subject "<prefix>.wake.<topic>", which no stream takes; Notify
// subscribes to it, so idle consumers in any process fetch at once
// instead of at their next poll. A lost wake-up costs one poll interval.

func (d *Driver) wakeSubj(topic string) string { return d.opts.Prefix + ".wake." + nident(topic) }

// wake tells the topic's idle consumers that messages may be ready.
func (d *Driver) wake(topic string) { _ = d.nc.Publish(d.wakeSubj(topic), nil) }

// Notify implements driver.Notifier with a subscription to the topic's
// wake subject (spurious for other subscriptions of the topic).
func (d *Driver) Notify(ctx context.Context, topic, sub string) (<-chan struct{}, func(), error) {
	ch := make(chan struct{}, 1)
	s, err := d.nc.Subscribe(d.wakeSubj(topic), func(*nats.Msg) {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	return ch, func() { once.Do(func() { _ = s.Unsubscribe() }) }, nil
}

// Pull replies. Each subscription's pull requests get their replies on
// one inbox subscription of the Driver, made once, rather than a
// subscription of their own per Receive (a SUB and an UNSUB the server
// would process each time). JetStream delivers a message with its own
// subject, so replies cannot be told apart by request: the requests of
// one subscription take turns, and a request first clears what is left
// on the inbox from one given up on (its ctx ended): the messages are
// naked, so they come back at once rather than after their AckWait (as
// a delivery, like an expired lease), and are never handed out late
// with less of their lease left than Receive would think.

// puller is the inbox of one subscription's pull requests.
type puller struct {
	mu    sync.Mutex // held for a whole request
	inbox string
	sub   *nats.Subscription
	nc    *nats.Conn
}

// leftovers naks what the inbox holds before a request: replies to a
// request given up on.
func (p *puller) leftovers() {
	n, _, _ := p.sub.Pending()
	for ; n > 0; n-- {
		m, err := p.sub.NextMsg(time.Millisecond)
		if err != nil {
			return
		}
		if m.Reply != "" {
			_ = p.nc.Publish(m.Reply, []byte("-NAK"))
		}
	}
}

// puller returns the puller of the consumer of c, making it if needed.
func (d *Driver) puller(c *consumer) (*puller, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.p != nil {
		return c.p, nil
	}
	inbox := nats.NewInbox()
	s, err := d.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	_ = s.SetPendingLimits(-1, -1)
	c.p = &puller{inbox: inbox, sub: s, nc: d.nc}
	return c.p, nil
}

// ackMeta reads the delivery count and stream sequence of a JetStream
// message from its ack subject, as (*nats.Msg).Metadata does but without
// allocating (Receive needs only these two):
//
//	v1: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
//	v2: $JS.ACK.<domain>.<acc hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>[.<token>]
func ackMeta(reply string) (delivered, sseq uint64, ok bool) {
	var tok [12]string
	n, start := 0, 0
	for i := 0; i <= len(reply); i++ {
		if i == len(reply) || reply[i] == '.' {
			if n == len(tok) {
				return 0, 0, false
			}
			tok[n] = reply[start:i]
			n++
			start = i + 1
		}
	}
	if n < 9 || (n > 9 && n < 11) || tok[0] != "$JS" || tok[1] != "ACK" {
		return 0, 0, false
	}
	d, s := tok[4], tok[5]
	if n > 9 {
		d, s = tok[6], tok[7]
	}
	var err1, err2 error
	delivered, err1 = strconv.ParseUint(d, 10, 64)
	sseq, err2 = strconv.ParseUint(s, 10, 64)
	return delivered, sseq, err1 == nil && err2 == nil
}
