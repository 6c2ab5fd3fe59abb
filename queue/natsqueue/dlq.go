package natsqueue

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// encode appends the message envelope: a version byte, id, publish and
// not-before times (µs), priority, key, headers, body.
func encode(b []byte, m *driver.Message) []byte {
	b = append(b, 1)
	b = appendString(b, m.ID)
	b = binary.AppendVarint(b, m.PublishedAt.UnixMicro())
	b = binary.AppendVarint(b, m.NotBefore.UnixMicro())
	b = binary.AppendVarint(b, int64(m.Priority))
	b = appendString(b, m.Key)
	b = binary.AppendUvarint(b, uint64(len(m.Headers)))
	for k, v := range m.Headers {
		b = appendString(b, k)
		b = appendString(b, v)
	}
	return append(b, m.Body...)
}

// envelopeSize bounds the length of m's envelope.
func envelopeSize(m *driver.Message) int {
	n := 1 + 3*binary.MaxVarintLen64 + 3*binary.MaxVarintLen64 + len(m.ID) + len(m.Key) + len(m.Body)
	for k, v := range m.Headers {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	return n
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errEnvelope = errors.New("natsqueue: malformed message envelope")

type reader struct {
	b   []byte
	bad bool
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	l, n := binary.Uvarint(r.b)
	if n <= 0 || l > uint64(len(r.b)-n) {
		r.bad = true
		return ""
	}
	s := string(r.b[n : n+int(l)])
	r.b = r.b[n+int(l):]
	return s
}

func decode(b []byte, m *driver.Message) error {
	if len(b) == 0 || b[0] != 1 {
		return errEnvelope
	}
	r := &reader{b: b[1:]}
	m.ID = r.str()
	m.PublishedAt = time.UnixMicro(r.varint())
	m.NotBefore = time.UnixMicro(r.varint())
	m.Priority = int(r.varint())
	m.Key = r.str()
	nh, n := binary.Uvarint(r.b)
	if n <= 0 || nh > uint64(len(r.b)) {
		return errEnvelope
	}
	r.b = r.b[n:]
	if nh > 0 {
		m.Headers = make(map[string]string, nh)
		for i := uint64(0); i < nh && !r.bad; i++ {
			k := r.str()
			m.Headers[k] = r.str()
		}
	}
	if r.bad {
		return errEnvelope
	}
	m.Body = r.b
	return nil
}

// Dead letters are messages of the topic's DLQ stream (limits retention)
// on subject <prefix>.dlq.<topic>.<sub>.<message id>, so that one can be
// found by id and a subscription's are listed in the order they died.
// Their data is: deliveries, reason, last error, death time, envelope.

func (d *Driver) ensureDLQ(ctx context.Context, topic string) (jetstream.Stream, error) {
	name := d.dlqName(topic)
	d.mu.Lock()
	ok := d.dlqs[topic]
	d.mu.Unlock()
	if ok {
		return d.js.Stream(ctx, name)
	}
	s, err := d.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{d.opts.Prefix + ".dlq." + nident(topic) + ".>"},
		Storage:  d.storage(),
		Replicas: d.opts.Replicas,
	})
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.dlqs[topic] = true
	d.mu.Unlock()
	return s, nil
}

func (d *Driver) deadLetter(ctx context.Context, topic, sub string, l *lease, n driver.Nack) error {
	s, err := d.ensureDLQ(ctx, topic)
	if err != nil {
		return err
	}
	var m driver.Message
	if err := decode(l.blob, &m); err != nil {
		return err
	}
	subj := d.subjDead(topic, sub, m.ID)
	// A message that dies twice keeps its latest death only.
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		return err
	}
	b := binary.AppendVarint(nil, int64(l.n))
	b = appendString(b, n.Reason)
	b = appendString(b, n.Error)
	b = binary.AppendVarint(b, time.Now().UnixMicro())
	b = append(b, l.blob...)
	_, err = d.js.Publish(ctx, subj, b)
	return err
}

func parseDead(data []byte) (driver.DeadLetter, []byte, error) {
	var dl driver.DeadLetter
	r := &reader{b: data}
	dl.Deliveries = int(r.varint())
	dl.Reason = r.str()
	dl.LastError = r.str()
	dl.DeadAt = time.UnixMicro(r.varint())
	if r.bad {
		return dl, nil, errEnvelope
	}
	err := decode(r.b, &dl.Message)
	return dl, r.b, err
}

// dlqStream returns the topic's DLQ stream, or nil when it has none yet;
// it returns ErrNotFound for an unknown subscription.
func (d *Driver) dlqStream(ctx context.Context, topic, sub string) (jetstream.Stream, error) {
	if _, err := d.consumer(ctx, topic, sub, false); err != nil {
		return nil, err
	}
	s, err := d.js.Stream(ctx, d.dlqName(topic))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	return s, err
}

// DeadLetters implements driver.Queue.
func (d *Driver) DeadLetters(ctx context.Context, topic, sub, after string, limit int) ([]driver.DeadLetter, error) {
	s, err := d.dlqStream(ctx, topic, sub)
	if s == nil || err != nil {
		return nil, err
	}
	seq := uint64(1)
	if after != "" {
		if m, err := s.GetLastMsgForSubject(ctx, d.subjDead(topic, sub, after)); err == nil {
			seq = m.Sequence + 1
		}
	}
	var out []driver.DeadLetter
	for len(out) < limit {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(d.subjDeadAll(topic, sub)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		dl, _, err := parseDead(m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, dl)
		seq = m.Sequence + 1
	}
	return out, nil
}

// DeadLetter implements driver.Queue.
func (d *Driver) DeadLetter(ctx context.Context, topic, sub, id string) (driver.DeadLetter, error) {
	s, err := d.dlqStream(ctx, topic, sub)
	if err != nil {
		return driver.DeadLetter{}, err
	}
	if s == nil {
		return driver.DeadLetter{}, driver.ErrNotFound
	}
	m, err := s.GetLastMsgForSubject(ctx, d.subjDead(topic, sub, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return driver.DeadLetter{}, driver.ErrNotFound
	}
	if err != nil {
		return driver.DeadLetter{}, err
	}
	dl, _, err := parseDead(m.Data)
	return dl, err
}

// Redrive implements driver.Queue: each dead letter is published again
// on the subject only this subscription's consumer takes, then purged.
func (d *Driver) Redrive(ctx context.Context, topic, sub string, ids []string) (int, error) {
	s, err := d.dlqStream(ctx, topic, sub)
	if s == nil || err != nil {
		return 0, err
	}
	if _, err := d.consumer(ctx, topic, sub, false); err != nil {
		return 0, err
	}
	before, err := d.consumerInfo(ctx, topic, sub)
	if err != nil {
		return 0, err
	}
	n := 0
	defer func() {
		// On a cluster the consumer's leader may count the redriven
		// messages a moment after the stream acked them: wait (briefly)
		// so that Stats after Redrive sees them.
		for deadline := time.Now().Add(2 * time.Second); n > 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			info, err := d.consumerInfo(ctx, topic, sub)
			if err != nil || info.NumPending+uint64(info.NumAckPending)+info.Delivered.Stream >= before.NumPending+uint64(before.NumAckPending)+before.Delivered.Stream+uint64(n) {
				return
			}
		}
	}()
	for _, id := range ids {
		subj := d.subjDead(topic, sub, id)
		m, err := s.GetLastMsgForSubject(ctx, subj)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		_, env, err := parseDead(m.Data)
		if err != nil {
			return n, err
		}
		var msg driver.Message
		_ = decode(env, &msg)
		msg.NotBefore = time.Now()
		if err := d.publish(ctx, topic, sub, []driver.Message{msg}, encode(nil, &msg)); err != nil {
			return n, err
		}
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Purge implements driver.Queue.
func (d *Driver) Purge(ctx context.Context, topic, sub string, ids []string) (int, error) {
	s, err := d.dlqStream(ctx, topic, sub)
	if s == nil || err != nil {
		return 0, err
	}
	subjs := []string{d.subjDeadAll(topic, sub)}
	if ids != nil {
		subjs = subjs[:0]
		for _, id := range ids {
			subjs = append(subjs, d.subjDead(topic, sub, id))
		}
	}
	n := 0
	for _, subj := range subjs {
		c, err := d.countSubject(ctx, s, subj)
		if err != nil {
			return n, err
		}
		if c == 0 {
			continue
		}
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return n, err
		}
		n += c
	}
	return n, nil
}

func (d *Driver) countSubject(ctx context.Context, s jetstream.Stream, subj string) (int, error) {
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n, nil
}

// Stats implements driver.Queue from the consumer's info: Backlog is
// its pending plus ack-pending count (which includes messages waiting
// for a retry or their NotBefore), InFlight the leases this process
// holds (JetStream counts a nacked message waiting for its redelivery as
// ack-pending, so the server cannot tell leased ones apart), Oldest the publish time of the first message past the ack floor.
func (d *Driver) Stats(ctx context.Context, topic, sub string) (driver.Stats, error) {
	if _, err := d.consumer(ctx, topic, sub, false); err != nil {
		return driver.Stats{}, err
	}
	info, err := d.consumerInfo(ctx, topic, sub)
	if err != nil {
		return driver.Stats{}, err
	}
	var st driver.Stats
	st.Backlog = int64(info.NumPending) + int64(info.NumAckPending)
	st.InFlight = min(d.inFlight(topic, sub), int64(info.NumAckPending))
	if s, err := d.js.Stream(ctx, d.dlqName(topic)); err == nil {
		n, err := d.countSubject(ctx, s, d.subjDeadAll(topic, sub))
		if err != nil {
			return st, err
		}
		st.DeadLetters = int64(n)
	}
	if st.Backlog > 0 {
		if s, err := d.js.Stream(ctx, d.streamName(topic)); err == nil {
			m, err := s.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(d.opts.Prefix+"."+nident(topic)+".>"))
			if err == nil {
				var msg driver.Message
				if decode(m.Data, &msg) == nil {
					st.Oldest = msg.PublishedAt
				}
			}
		}
	}
	return st, nil
}

// consumerInfo fetches the subscription's consumer info through a fresh
// handle. jetstream's Consumer.Info stores the answer in the handle
// without a lock, so calling it on the handle Receive reads (CachedInfo)
// is a data race.
func (d *Driver) consumerInfo(ctx context.Context, topic, sub string) (*jetstream.ConsumerInfo, error) {
	jc, err := d.js.Consumer(ctx, d.streamName(topic), durable(sub))
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, driver.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return jc.CachedInfo(), nil
}
