package natsqueue

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// GateDelay is how long a keyed message that is not the head of its key
// waits (NakWithDelay) before it is fetched again.
const GateDelay = 25 * time.Millisecond

// Ordering keys. JetStream hands a consumer's messages out in stream
// order but does not hold a key's later messages back while an earlier one
// is leased or waiting for a retry, so the driver keeps, per subscription
// and key, a lock entry in the state bucket: "h <seq>" while the message
// at stream sequence seq is the key's head (leased, retried or delayed),
// "f <seq>" once it is settled. A fetched keyed message is handed out only
// if it is the head, or if the key is free and it is the first message of
// the key after the last settled one (looked up with the stream's
// next-by-subject get, on the subjects this subscription takes); it takes
// the lock with a compare-and-set on the entry's revision. Any other keyed
// message goes back with NakWithDelay(GateDelay) and the delivery does not
// count.

func lockKey(topic, sub, key string) string {
	return "L." + nident(topic) + "." + nident(sub) + "." + ident(key)
}

// gate reports whether the message at seq is the head of its key in sub,
// taking the key's lock if it is free.
func (d *Driver) gate(ctx context.Context, topic, sub, key string, seq uint64) (bool, error) {
	kv, err := d.state(ctx)
	if err != nil {
		return false, err
	}
	lk := lockKey(topic, sub, key)
	for attempt := 0; attempt < 3; attempt++ {
		var rev, last uint64
		e, err := kv.Get(ctx, lk)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return false, err
		default:
			rev = e.Revision()
			st, n, _ := strings.Cut(string(e.Value()), " ")
			v, _ := strconv.ParseUint(n, 10, 64)
			if st == "h" {
				return v == seq, nil
			}
			last = v
		}
		next, err := d.nextOfKey(ctx, topic, sub, key, last+1)
		if err != nil || next != seq {
			return false, err
		}
		val := []byte("h " + strconv.FormatUint(seq, 10))
		if rev == 0 {
			_, err = kv.Create(ctx, lk, val)
		} else {
			_, err = kv.Update(ctx, lk, val, rev)
		}
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !strings.Contains(err.Error(), "wrong last sequence") {
			return false, err
		}
	}
	return false, nil
}

// nextOfKey returns the lowest stream sequence at or after from of a
// message of key that sub takes (0 if none).
func (d *Driver) nextOfKey(ctx context.Context, topic, sub, key string, from uint64) (uint64, error) {
	s, err := d.js.Stream(ctx, d.streamName(topic))
	if err != nil {
		return 0, err
	}
	var best uint64
	for _, subj := range []string{d.subjAll(topic, key), d.subjTo(topic, sub, key)} {
		m, err := s.GetMsg(ctx, from, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if best == 0 || m.Sequence < best {
			best = m.Sequence
		}
	}
	return best, nil
}

// release marks the key of a settled head free after its sequence.
func (d *Driver) release(ctx context.Context, l *lease) error {
	if l.key == "" {
		return nil
	}
	kv, err := d.state(ctx)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, lockKey(l.topic, l.sub, l.key), []byte("f "+strconv.FormatUint(l.sseq, 10)))
	return err
}
