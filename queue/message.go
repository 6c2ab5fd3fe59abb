package queue

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// Message is a message to publish. Only Body is needed; every other field
// is optional.
type Message struct {
	// ID identifies the message; Publish generates a random one when it
	// is empty. It is what the idempotent-consumer helper deduplicates on.
	ID string
	// Body is the payload (at most Options.MaxBody bytes; may be empty).
	Body []byte
	// Headers are string key/value pairs delivered with the message.
	// Publish adds the trace context of its ctx here.
	Headers map[string]string
	// Key is the ordering key: messages with the same key are handled one
	// at a time, in publish order, by all consumers of a subscription.
	Key string
	// Priority orders ready messages, higher first, in
	// [MinPriority, MaxPriority] (default 0).
	Priority int
	// Delay postpones the first delivery (non-negative).
	Delay time.Duration
	// NotBefore schedules the first delivery at a time; set Delay or
	// NotBefore, not both. A time in the past means now.
	NotBefore time.Time
	// DedupID makes the backend store the message once when it is
	// published again with the same DedupID within the backend's dedup
	// window (a producer retrying after a lost reply).
	DedupID string
}

// idPrefix makes generated ids unique across processes; the counter makes
// them unique within one.
var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("queue: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// idChunk is how many generated ids share one allocation.
const idChunk = 64

// fillIDs gives every message of dms without an id a generated one. The
// ids of up to idChunk messages are cut from one string (one allocation
// instead of one per message; an id kept alone keeps at most its chunk,
// ~1.5 KB, alive).
func fillIDs(dms []driver.Message) {
	missing := 0
	for i := range dms {
		if dms[i].ID == "" {
			missing++
		}
	}
	i := 0
	for missing > 0 {
		n := min(missing, idChunk)
		missing -= n
		last := idCounter.Add(uint64(n))
		var scratch [idChunk * 32]byte // prefix, '-', up to 13 base-36 digits
		buf := scratch[:0]
		ends := make([]int, 0, idChunk)
		for c := last - uint64(n) + 1; c <= last; c++ {
			buf = append(buf, idPrefix...)
			buf = append(buf, '-')
			buf = strconv.AppendUint(buf, c, 36)
			ends = append(ends, len(buf))
		}
		all := string(buf)
		start := 0
		for _, end := range ends {
			for dms[i].ID != "" {
				i++
			}
			dms[i].ID = all[start:end]
			start = end
		}
	}
}

// check validates m and converts it for the driver.
func (q *Queue) check(m *Message, now time.Time, dm *driver.Message) error {
	if len(m.Body) > q.maxBody {
		return fmt.Errorf("%w: body of %d bytes, limit %d", ErrTooLarge, len(m.Body), q.maxBody)
	}
	if m.Delay < 0 {
		return fmt.Errorf("%w: Delay %v", ErrInvalidDelay, m.Delay)
	}
	if m.Delay > 0 && !m.NotBefore.IsZero() {
		return fmt.Errorf("%w: both Delay and NotBefore set", ErrInvalidMessage)
	}
	if m.Priority < MinPriority || m.Priority > MaxPriority {
		return fmt.Errorf("%w: %d not in [%d, %d]", ErrInvalidPriority, m.Priority, MinPriority, MaxPriority)
	}
	if len(m.Key) > MaxNameLen || len(m.ID) > MaxNameLen || len(m.DedupID) > MaxNameLen {
		return fmt.Errorf("%w: key, id or dedup id longer than %d bytes", ErrInvalidMessage, MaxNameLen)
	}
	for k, v := range m.Headers {
		if k == "" {
			return fmt.Errorf("%w: empty header name", ErrInvalidMessage)
		}
		if !cleanText(k) || !cleanText(v) {
			return fmt.Errorf("%w: header %q is not UTF-8 text without NUL bytes", ErrInvalidMessage, k)
		}
	}
	if !cleanText(m.Key) || !cleanText(m.ID) || !cleanText(m.DedupID) {
		return fmt.Errorf("%w: key, id or dedup id is not UTF-8 text without NUL bytes", ErrInvalidMessage)
	}
	// Field by field into the caller's slot: no struct copy (and no bulk
	// write barrier while the GC runs).
	dm.ID, dm.Body, dm.Headers, dm.Key, dm.Priority = m.ID, m.Body, m.Headers, m.Key, m.Priority
	dm.NotBefore, dm.DedupID, dm.PublishedAt = m.NotBefore, m.DedupID, now
	switch {
	case m.Delay > 0:
		dm.NotBefore = now.Add(m.Delay)
	case dm.NotBefore.IsZero() || dm.NotBefore.Before(now):
		dm.NotBefore = now
	}
	return nil
}

func checkName(what, name string) error {
	if name == "" || len(name) > MaxNameLen || !cleanText(name) {
		return fmt.Errorf("%w: %s %q (must be 1 to %d bytes of UTF-8 without NUL)", ErrInvalidName, what, name, MaxNameLen)
	}
	return nil
}

// cleanText reports whether s can be stored as text by every backend:
// valid UTF-8 without NUL bytes.
func cleanText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
