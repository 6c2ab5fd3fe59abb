package natsqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// DefaultPrefix starts every stream, subject and bucket name.
const DefaultPrefix = "SKQ"

// DefaultDedupWindow is the streams' duplicate window when
// Options.DedupWindow is zero.
const DefaultDedupWindow = 2 * time.Minute

// Options configures a Driver. A nil *Options means the defaults.
type Options struct {
	// Prefix starts every stream, subject and KV bucket name (default
	// DefaultPrefix; letters, digits, '-' and '_' only).
	Prefix string
	// Replicas is the replication factor of the streams and the state
	// bucket (default 1; 3 on a three-node cluster).
	Replicas int
	// DedupWindow is the topic streams' duplicate window: how long a
	// Nats-Msg-Id is remembered (default DefaultDedupWindow).
	DedupWindow time.Duration
	// MemoryStorage keeps streams in memory instead of files (faster, not
	// durable across a server restart).
	MemoryStorage bool
}

// Driver is the NATS JetStream backend of package queue; see the package
// documentation. It is safe for concurrent use; the zero value is not
// usable, call New.
type Driver struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts Options

	mu      sync.Mutex
	cons    map[[2]string]*consumer
	streams map[string]bool // topic streams known to exist
	dlqs    map[string]bool // DLQ streams known to exist
	kv      jetstream.KeyValue
	leases  map[string]*lease
}

// consumer is a cached durable pull consumer and its AckWait.
type consumer struct {
	c       jetstream.Consumer
	ackWait time.Duration
	p       *puller // made on the first Receive
}

// lease is a delivery handed out by this Driver and not yet settled.
type lease struct {
	msg      *nats.Msg
	topic    string
	sub      string
	sseq     uint64
	key      string
	n        int
	blob     []byte
	deadline time.Time
	ackWait  time.Duration
}

var (
	_ driver.Queue         = (*Driver)(nil)
	_ driver.Limited       = (*Driver)(nil)
	_ driver.DedupWindowed = (*Driver)(nil)
	_ driver.Retryable     = (*Driver)(nil)
)

// New returns a Driver over nc. It does no I/O: streams, consumers and
// the state bucket are created when first needed.
func New(nc *nats.Conn, opts *Options) (*Driver, error) {
	if nc == nil {
		return nil, errors.New("natsqueue: New with a nil connection")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if strings.Trim(o.Prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		return nil, fmt.Errorf("natsqueue: prefix %q may hold only letters, digits, '-' and '_'", o.Prefix)
	}
	if o.Replicas < 0 || o.DedupWindow < 0 {
		return nil, errors.New("natsqueue: negative value in Options")
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &Driver{nc: nc, js: js, opts: o, cons: map[[2]string]*consumer{}, streams: map[string]bool{},
		dlqs: map[string]bool{}, leases: map[string]*lease{}}, nil
}

// Limits implements driver.Limited: a body must leave room for the
// envelope within the server's max_payload.
func (d *Driver) Limits() driver.Limits {
	return driver.Limits{MaxBody: int(d.nc.MaxPayload()) - 16<<10, MaxBatch: 1000}
}

// DedupWindow implements driver.DedupWindowed.
func (d *Driver) DedupWindow() time.Duration { return d.opts.DedupWindow }

// IsRetryable implements driver.Retryable: timeouts, a lost connection
// and JetStream being briefly unavailable (leader election) are transient.
func (d *Driver) IsRetryable(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoHeartbeat) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

// ident returns a name-safe digest of s.
func ident(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:12])
}

// names caches the digests of topic and subscription names (there are
// few; keys and ids are not cached), up to maxNames of them.
var (
	names    sync.Map
	numNames atomic.Int64
)

const maxNames = 4096

// nident is ident for topic and subscription names, cached.
func nident(s string) string {
	if v, ok := names.Load(s); ok {
		return v.(string)
	}
	id := ident(s)
	if numNames.Load() < maxNames {
		if _, loaded := names.LoadOrStore(s, id); !loaded {
			numNames.Add(1)
		}
	}
	return id
}

func (d *Driver) streamName(topic string) string { return d.opts.Prefix + "_" + nident(topic) }
func (d *Driver) dlqName(topic string) string    { return d.opts.Prefix + "_DLQ_" + nident(topic) }

// Subjects of a topic: "<prefix>.<topic>.all.<key>" for published
// messages (every subscription's consumer takes them) and
// "<prefix>.<topic>.to<sub>.<key>" for redriven ones (one subscription
// only), where <key> is the ordering key's digest or "_" for none.
func (d *Driver) subjAll(topic, key string) string {
	return d.opts.Prefix + "." + nident(topic) + ".all." + keyToken(key)
}
func (d *Driver) subjTo(topic, sub, key string) string {
	return d.opts.Prefix + "." + nident(topic) + ".to" + nident(sub) + "." + keyToken(key)
}
func keyToken(key string) string {
	if key == "" {
		return "_"
	}
	return ident(key)
}
func (d *Driver) subjDead(topic, sub, id string) string {
	return d.opts.Prefix + ".dlq." + nident(topic) + "." + nident(sub) + "." + ident(id)
}
func (d *Driver) subjDeadAll(topic, sub string) string {
	return d.opts.Prefix + ".dlq." + nident(topic) + "." + nident(sub) + ".*"
}
func durable(sub string) string { return "c_" + nident(sub) }

func (d *Driver) storage() jetstream.StorageType {
	if d.opts.MemoryStorage {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// ensureStream creates the topic's stream: interest retention, so a
// message lives until every subscription's consumer has acked it, and
// one with no subscription is dropped.
func (d *Driver) ensureStream(ctx context.Context, topic string) error {
	d.mu.Lock()
	ok := d.streams[topic]
	d.mu.Unlock()
	if ok {
		return nil
	}
	_, err := d.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       d.streamName(topic),
		Subjects:   []string{d.opts.Prefix + "." + nident(topic) + ".>"},
		Retention:  jetstream.InterestPolicy,
		Storage:    d.storage(),
		Replicas:   d.opts.Replicas,
		Duplicates: d.opts.DedupWindow,
	})
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.streams[topic] = true
	d.mu.Unlock()
	return nil
}

// Subscribe implements driver.Queue: the topic's stream and a durable
// pull consumer (explicit acks, no delivery limit of its own: package
// queue dead-letters by count) that takes new messages only.
func (d *Driver) Subscribe(ctx context.Context, topic, sub string) error {
	if err := d.ensureStream(ctx, topic); err != nil {
		return err
	}
	_, err := d.consumer(ctx, topic, sub, true)
	return err
}

// consumer returns the subscription's consumer, creating it if create.
func (d *Driver) consumer(ctx context.Context, topic, sub string, create bool) (*consumer, error) {
	k := [2]string{topic, sub}
	d.mu.Lock()
	c := d.cons[k]
	d.mu.Unlock()
	if c != nil {
		return c, nil
	}
	jc, err := d.js.Consumer(ctx, d.streamName(topic), durable(sub))
	if (errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound)) && !create {
		return nil, driver.ErrNotFound
	}
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		jc, err = d.js.CreateConsumer(ctx, d.streamName(topic), jetstream.ConsumerConfig{
			Durable:        durable(sub),
			FilterSubjects: []string{d.opts.Prefix + "." + nident(topic) + ".all.*", d.opts.Prefix + "." + nident(topic) + ".to" + nident(sub) + ".*"},
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        30 * time.Second,
			MaxDeliver:     -1,
			DeliverPolicy:  jetstream.DeliverNewPolicy,
			MaxAckPending:  -1,
			Replicas:       d.opts.Replicas,
		})
		if errors.Is(err, jetstream.ErrConsumerExists) {
			jc, err = d.js.Consumer(ctx, d.streamName(topic), durable(sub))
		}
	}
	if err != nil {
		return nil, err
	}
	c = &consumer{c: jc, ackWait: jc.CachedInfo().Config.AckWait}
	d.mu.Lock()
	if old := d.cons[k]; old != nil {
		c = old
	} else {
		d.cons[k] = c
	}
	d.mu.Unlock()
	return c, nil
}

// Publish implements driver.Queue: every message is sent asynchronously
// (pipelined) and Publish waits for all the stream's acks. A DedupID
// becomes the Nats-Msg-Id header.
func (d *Driver) Publish(ctx context.Context, topic string, msgs []driver.Message) error {
	return d.publish(ctx, topic, "", msgs, nil)
}

// publish sends msgs to every subscription, or to sub only. The
// envelopes share one buffer and unkeyed messages one subject, so a
// message costs the client little beyond what jetstream itself does.
func (d *Driver) publish(ctx context.Context, topic, sub string, msgs []driver.Message, fixed []byte) error {
	futs := make([]jetstream.PubAckFuture, 0, len(msgs))
	// One allocation each for the envelopes, the messages, the header
	// values and their strings, rather than one per message.
	var buf []byte
	var ids string
	if fixed == nil {
		size, idLen := 0, 0
		for i := range msgs {
			size += envelopeSize(&msgs[i])
			if msgs[i].DedupID != "" {
				idLen += 2 + len(msgs[i].DedupID)
			} else {
				idLen += 2 + len(msgs[i].ID)
			}
		}
		buf = make([]byte, 0, size)
		var sb strings.Builder
		sb.Grow(idLen)
		for i := range msgs {
			if msgs[i].DedupID != "" {
				sb.WriteString("d:")
				sb.WriteString(msgs[i].DedupID)
			} else {
				sb.WriteString("i:")
				sb.WriteString(msgs[i].ID)
			}
		}
		ids = sb.String()
	}
	nms := make([]nats.Msg, len(msgs))
	vals := make([]string, len(msgs))
	subj := func(key string) string {
		if sub != "" {
			return d.subjTo(topic, sub, key)
		}
		return d.subjAll(topic, key)
	}
	unkeyed := subj("")
	for i := range msgs {
		m := &msgs[i]
		data := fixed
		if data == nil {
			n := len(buf)
			buf = encode(buf, m)
			data = buf[n:len(buf):len(buf)]
		}
		s := unkeyed
		if m.Key != "" {
			s = subj(m.Key)
		}
		nm := &nms[i]
		nm.Subject, nm.Data = s, data
		switch {
		case fixed == nil:
			// The DedupID, or else the message id: a publish the client
			// retries (a lost ack during a leader election) must not
			// store the message twice.
			n := 2 + len(m.ID)
			if m.DedupID != "" {
				n = 2 + len(m.DedupID)
			}
			vals[i], ids = ids[:n], ids[n:]
			nm.Header = nats.Header{jetstream.MsgIDHeader: vals[i : i+1 : i+1]}
		case m.DedupID != "":
			nm.Header = nats.Header{jetstream.MsgIDHeader: []string{"d:" + m.DedupID}}
		}
		f, err := d.js.PublishMsgAsync(nm)
		if err != nil {
			return err
		}
		futs = append(futs, f)
	}
	stored := false
	for _, f := range futs {
		select {
		case <-f.Ok():
			stored = true
		case err := <-f.Err():
			if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) {
				continue // no stream: the topic has no subscription, so it drops
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if stored {
		d.wake(topic)
	}
	return nil
}
