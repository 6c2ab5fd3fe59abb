package redisqueue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// Blob versions: 2 (written now) starts with the message id; 1 (written
// by earlier versions, whose stream entries carried the id in a field of
// its own) does not. Both are read.
const (
	blobV1 = 1
	blobV2 = 2
)

// encode appends the message's blob: a version byte, the message id, the
// publish time in microseconds, the priority, the key, the headers and
// the body. Scripts only read the id (blobid), for dead letters.
func encode(b []byte, m *driver.Message) []byte {
	b = append(b, blobV2)
	b = appendString(b, m.ID)
	b = binary.AppendVarint(b, m.PublishedAt.UnixMicro())
	b = binary.AppendVarint(b, int64(m.Priority))
	b = appendString(b, m.Key)
	b = binary.AppendUvarint(b, uint64(len(m.Headers)))
	for k, v := range m.Headers {
		b = appendString(b, k)
		b = appendString(b, v)
	}
	return append(b, m.Body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errBlob = errors.New("redisqueue: malformed message blob")

// blobReader reads a blob in place: strings are substrings of it, only
// the body is copied.
type blobReader struct {
	s   string
	bad bool
}

func (r *blobReader) uvarint() uint64 {
	var x uint64
	for i := 0; i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		c := r.s[i]
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			r.s = r.s[i+1:]
			return x
		}
	}
	r.bad = true
	return 0
}

func (r *blobReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *blobReader) str() string {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.s)) {
		r.bad = true
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}

// decode fills m (all but NotBefore, and ID for a version 1 blob) from a
// blob.
func decode(s string, m *driver.Message) error {
	if len(s) == 0 || (s[0] != blobV1 && s[0] != blobV2) {
		return errBlob
	}
	r := blobReader{s: s[1:]}
	if s[0] == blobV2 {
		m.ID = r.str()
	}
	us := r.varint()
	p := r.varint()
	m.Key = r.str()
	nh := r.uvarint()
	if r.bad || nh > uint64(len(r.s)) {
		return errBlob
	}
	if nh > 0 {
		m.Headers = make(map[string]string, nh)
		for i := uint64(0); i < nh; i++ {
			k := r.str()
			m.Headers[k] = r.str()
		}
	}
	if r.bad {
		return errBlob
	}
	m.PublishedAt = time.UnixMicro(us)
	m.NotBefore = m.PublishedAt
	m.Priority = int(p)
	m.Body = []byte(r.s)
	return nil
}

// deadLetter parses one dlq stream entry.
func deadLetter(v any) (driver.DeadLetter, error) {
	var dl driver.DeadLetter
	e, ok := v.([]any)
	if !ok || len(e) != 2 {
		return dl, fmt.Errorf("redisqueue: unexpected dead-letter entry %T", v)
	}
	fl, _ := e[1].([]any)
	f := make(map[string]string, len(fl)/2)
	for i := 0; i+1 < len(fl); i += 2 {
		k, _ := fl[i].(string)
		val, _ := fl[i+1].(string)
		f[k] = val
	}
	if err := decode(f["m"], &dl.Message); err != nil {
		return dl, err
	}
	dl.Message.ID = f["i"]
	dl.Deliveries, _ = strconv.Atoi(f["n"])
	dl.Reason, dl.LastError = f["r"], f["e"]
	ms, _ := strconv.ParseInt(f["t"], 10, 64)
	dl.DeadAt = time.UnixMilli(ms)
	return dl, nil
}

// DeadLetters implements driver.Queue. Each subscription's DLQ is a
// stream, so the order is the order of death.
func (d *Driver) DeadLetters(ctx context.Context, topic, sub, after string, limit int) ([]driver.DeadLetter, error) {
	k, err := d.keys(topic, sub)
	if err != nil {
		return nil, err
	}
	res, err := deadListScript.Run(ctx, d.c, k, sub, after, limit).Slice()
	if err != nil {
		return nil, subErr(err)
	}
	out := make([]driver.DeadLetter, 0, len(res))
	for _, v := range res {
		dl, err := deadLetter(v)
		if err != nil {
			return nil, err
		}
		out = append(out, dl)
	}
	return out, nil
}

// DeadLetter implements driver.Queue.
func (d *Driver) DeadLetter(ctx context.Context, topic, sub, id string) (driver.DeadLetter, error) {
	k, err := d.keys(topic, sub)
	if err != nil {
		return driver.DeadLetter{}, err
	}
	res, err := deadGetScript.Run(ctx, d.c, k, sub, id).Slice()
	if err != nil {
		return driver.DeadLetter{}, subErr(err)
	}
	if len(res) == 0 {
		return driver.DeadLetter{}, driver.ErrNotFound
	}
	return deadLetter(res[0])
}

// Redrive implements driver.Queue.
func (d *Driver) Redrive(ctx context.Context, topic, sub string, ids []string) (int, error) {
	k, err := d.keys(topic, sub)
	if err != nil {
		return 0, err
	}
	args := make([]any, 0, 1+len(ids))
	args = append(args, sub)
	for _, id := range ids {
		args = append(args, id)
	}
	n, err := redriveScript.Run(ctx, d.c, k, args...).Int()
	if err == nil && n < 0 {
		return 0, driver.ErrNotFound
	}
	return n, err
}

// Purge implements driver.Queue.
func (d *Driver) Purge(ctx context.Context, topic, sub string, ids []string) (int, error) {
	k, err := d.keys(topic, sub)
	if err != nil {
		return 0, err
	}
	args := make([]any, 0, 2+len(ids))
	args = append(args, sub, "ids")
	if ids == nil {
		args[1] = "all"
	}
	for _, id := range ids {
		args = append(args, id)
	}
	n, err := purgeScript.Run(ctx, d.c, k, args...).Int()
	if err == nil && n < 0 {
		return 0, driver.ErrNotFound
	}
	return n, err
}

// Stats implements driver.Queue. Backlog counts the entries of the
// subscription's streams (ready, leased and waiting to be retried), its
// delayed messages and the messages waiting behind the head of their
// ordering key. Oldest is the earliest publish time among the first entry
// of each stream and the first delayed message (a delayed message that
// became due sits behind newer ones, so it is a close bound, not exact).
func (d *Driver) Stats(ctx context.Context, topic, sub string) (driver.Stats, error) {
	k, err := d.keys(topic, sub)
	if err != nil {
		return driver.Stats{}, err
	}
	res, err := statsScript.Run(ctx, d.c, k, sub).Slice()
	if err != nil {
		return driver.Stats{}, subErr(err)
	}
	if len(res) < 3 {
		return driver.Stats{}, fmt.Errorf("redisqueue: unexpected stats reply of %d elements", len(res))
	}
	var st driver.Stats
	st.Backlog, _ = res[0].(int64)
	st.InFlight, _ = res[1].(int64)
	st.DeadLetters, _ = res[2].(int64)
	if st.Backlog > 0 {
		for _, v := range res[3:] {
			s, _ := v.(string)
			var m driver.Message
			if decode(s, &m) == nil && (st.Oldest.IsZero() || m.PublishedAt.Before(st.Oldest)) {
				st.Oldest = m.PublishedAt
			}
		}
	}
	return st, nil
}
