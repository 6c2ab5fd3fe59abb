package redisqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/driver"
)

// Defaults of Options.
const (
	// DefaultPrefix starts every key the driver writes.
	DefaultPrefix = "queue:"
	// DefaultDedupWindow is how long a DedupID is remembered per topic.
	DefaultDedupWindow = 10 * time.Minute
	// DefaultMaxBody is the largest body accepted by default.
	DefaultMaxBody = 8 << 20
	// MaxBatch is the most messages one Publish, Receive or Ack call
	// sends in one script (package queue splits larger batches).
	MaxBatch = 1000
)

// ErrBraceInName is returned for a topic name (or Options.Prefix) that
// contains '{' or '}': the topic is the Redis Cluster hash tag of its keys,
// and a brace inside it would move some of them to another slot. It wraps
// queue.ErrInvalidName.
var ErrBraceInName = fmt.Errorf("%w: redisqueue topic names and prefixes may not contain '{' or '}'", queue.ErrInvalidName)

// Options configures a Driver. A nil *Options means the defaults.
type Options struct {
	// Prefix starts every key (default DefaultPrefix). Give each
	// application its own. It may not contain braces.
	Prefix string
	// DedupWindow is how long a DedupID is remembered per topic (default
	// DefaultDedupWindow).
	DedupWindow time.Duration
	// MaxBody is the largest body accepted (default DefaultMaxBody).
	MaxBody int
}

// Driver is the Redis Streams backend of package queue; see the package
// documentation. It is safe for concurrent use; the zero value is not
// usable, call New.
type Driver struct {
	c    redis.UniversalClient
	opts Options
}

var (
	_ driver.Queue         = (*Driver)(nil)
	_ driver.Limited       = (*Driver)(nil)
	_ driver.Retryable     = (*Driver)(nil)
	_ driver.DedupWindowed = (*Driver)(nil)
)

// New returns a Driver over c (a *redis.Client, *redis.ClusterClient,
// failover client or ring of one shard). It does no I/O: the streams and
// consumer groups are created by Subscribe and Publish.
func New(c redis.UniversalClient, opts *Options) (*Driver, error) {
	if c == nil {
		return nil, errors.New("redisqueue: New with a nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.DedupWindow < 0 || o.MaxBody < 0 {
		return nil, fmt.Errorf("%w: negative value in redisqueue.Options", queue.ErrInvalidOptions)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("%w: prefix %q", ErrBraceInName, o.Prefix)
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	if o.DedupWindow < time.Millisecond {
		o.DedupWindow = time.Millisecond
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	return &Driver{c: c, opts: o}, nil
}

// Limits implements driver.Limited.
func (d *Driver) Limits() driver.Limits {
	return driver.Limits{MaxBody: d.opts.MaxBody, MaxBatch: MaxBatch}
}

// DedupWindow implements driver.DedupWindowed.
func (d *Driver) DedupWindow() time.Duration { return d.opts.DedupWindow }

// IsRetryable implements driver.Retryable: network errors, timeouts,
// closed connections and the replies Redis gives during a failover,
// resharding or start-up are transient.
func (d *Driver) IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, redis.ErrClosed) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "MOVED", "ASK", "BUSY"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return strings.Contains(msg, "connection") || strings.Contains(msg, "i/o timeout")
}

// keys returns the topic's and the subscription's key bases.
func (d *Driver) keys(topic, sub string) ([]string, error) {
	if strings.ContainsAny(topic, "{}") {
		return nil, fmt.Errorf("%w: topic %q", ErrBraceInName, topic)
	}
	t := d.opts.Prefix + "{" + topic + "}:"
	if sub == "" {
		return []string{t}, nil
	}
	return []string{t, t + "s" + strconv.Itoa(len(sub)) + ":" + sub + ":"}, nil
}

// Subscribe implements driver.Queue: it adds sub to the topic's set of
// subscriptions and creates the consumer group of its level-0 stream, in
// one script.
func (d *Driver) Subscribe(ctx context.Context, topic, sub string) error {
	k, err := d.keys(topic, sub)
	if err != nil {
		return err
	}
	return subscribeScript.Run(ctx, d.c, k, sub).Err()
}

// Publish implements driver.Queue: the whole batch is one script call
// (one round trip) that checks DedupIDs with SET NX PX and appends one
// stream entry per message and subscription. A batch without DedupIDs,
// keys or delays, all of one priority, takes the script's fast path: one
// XADD per message and subscription and nothing else.
func (d *Driver) Publish(ctx context.Context, topic string, msgs []driver.Message) error {
	k, err := d.keys(topic, "")
	if err != nil {
		return err
	}
	fast := true
	for i := range msgs {
		m := &msgs[i]
		if m.DedupID != "" || m.Key != "" || m.NotBefore.After(m.PublishedAt) || m.Priority != msgs[0].Priority {
			fast = false
			break
		}
	}
	var args []any
	if fast && len(msgs) > 0 {
		// All blobs in one buffer, passed as []byte (written as they are).
		size := 0
		for i := range msgs {
			size += 32 + len(msgs[i].ID) + len(msgs[i].Body)
			for k, v := range msgs[i].Headers {
				size += 4 + len(k) + len(v)
			}
		}
		buf := make([]byte, 0, size)
		args = make([]any, 3, 3+len(msgs))
		args[0], args[1], args[2] = d.opts.DedupWindow.Milliseconds(), "f", msgs[0].Priority
		ends := make([]int, len(msgs))
		for i := range msgs {
			buf = encode(buf, &msgs[i])
			ends[i] = len(buf)
		}
		from := 0
		for i := range msgs {
			args = append(args, buf[from:ends[i]:ends[i]])
			from = ends[i]
		}
		return publishScript.Run(ctx, d.c, k, args...).Err()
	}
	buf := make([]byte, 0, 256)
	args = make([]any, 0, 2+6*len(msgs))
	args = append(args, d.opts.DedupWindow.Milliseconds(), "g")
	for i := range msgs {
		m := &msgs[i]
		var delay int64
		if m.NotBefore.After(m.PublishedAt) {
			delay = (m.NotBefore.Sub(m.PublishedAt) + time.Millisecond - 1).Milliseconds()
		}
		buf = encode(buf[:0], m)
		args = append(args, m.DedupID, m.ID, m.Key, m.Priority, delay, string(buf))
	}
	return publishScript.Run(ctx, d.c, k, args...).Err()
}

// subErr maps a script's "no such subscription" reply to ErrNotFound.
func subErr(err error) error {
	if errors.Is(err, redis.Nil) {
		return driver.ErrNotFound
	}
	return err
}

// Receive implements driver.Queue: one script call moves due delayed
// messages, claims due retries and expired leases and, in the common case
// (one priority level, every lease of the subscription's full horizon),
// leaves the new entries to one plain XREADGROUP COUNT from here, so that
// they never pass through Lua; otherwise the script reads them itself,
// highest level first.
func (d *Driver) Receive(ctx context.Context, topic, sub string, max int, vis time.Duration) ([]driver.Delivery, error) {
	k, err := d.keys(topic, sub)
	if err != nil {
		return nil, err
	}
	res, err := receiveScript.Run(ctx, d.c, k, max, visMillis(vis), sub).Slice()
	if err != nil {
		return nil, subErr(err)
	}
	if len(res) < 2 {
		return nil, fmt.Errorf("redisqueue: unexpected receive reply of %d elements", len(res))
	}
	var out []driver.Delivery
	for _, r := range res[2:] {
		g, ok := r.([]any)
		if !ok || len(g) != 4 {
			return nil, fmt.Errorf("redisqueue: unexpected receive reply %T", r)
		}
		lastErr, _ := g[2].(string)
		if out, err = appendEntries(out, replyString(g[0]), replyString(g[1]), lastErr, g[3]); err != nil {
			return nil, err
		}
	}
	level := replyString(res[0])
	want, _ := res[1].(int64)
	if level == "" || want <= 0 {
		return out, nil
	}
	rep, err := d.c.Do(ctx, "XREADGROUP", "GROUP", "g", "c", "COUNT", want, "STREAMS", k[1]+"p"+level, ">").Result()
	if errors.Is(err, redis.Nil) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	var es any
	switch rep := rep.(type) {
	case []any: // RESP2: [[stream, entries]]
		if len(rep) > 0 {
			if s, ok := rep[0].([]any); ok && len(s) == 2 {
				es = s[1]
			}
		}
	case map[any]any: // RESP3: {stream: entries}
		for _, v := range rep {
			es = v
		}
	}
	return appendEntries(out, level, "1", "", es)
}

// appendEntries appends the deliveries of stream entries (as XREADGROUP
// and XCLAIM return them) of one level and delivery count.
func appendEntries(out []driver.Delivery, level, n, lastErr string, v any) ([]driver.Delivery, error) {
	es, _ := v.([]any)
	if cap(out)-len(out) < len(es) {
		out = slices.Grow(out, len(es))
	}
	cnt, _ := strconv.Atoi(n)
	for _, ev := range es {
		e, ok := ev.([]any)
		if !ok || len(e) != 2 {
			return nil, fmt.Errorf("redisqueue: unexpected stream entry %T", ev)
		}
		sid, _ := e[0].(string)
		f, _ := e[1].([]any)
		var dl driver.Delivery
		switch {
		case len(f) == 2: // "" -> blob (the id is in the blob)
			blob, _ := f[1].(string)
			if err := decode(blob, &dl.Message); err != nil {
				return nil, err
			}
		case len(f) >= 4 && f[0] == "m": // m blob i id [k key], written by earlier versions
			blob, _ := f[1].(string)
			if err := decode(blob, &dl.Message); err != nil {
				return nil, err
			}
			dl.ID, _ = f[3].(string)
		default:
			return nil, fmt.Errorf("redisqueue: stream entry %s has %d fields", sid, len(f))
		}
		dl.LastError = lastErr
		dl.Deliveries = cnt
		dl.Handle = level + ":" + sid + ":" + n + ":" + dl.Key
		out = append(out, dl)
	}
	return out, nil
}

// replyString returns a script reply element (a Lua string or number) as
// a string.
func replyString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

// visMillis rounds a visibility up to whole milliseconds (at least 1).
func visMillis(v time.Duration) int64 {
	return max((v + time.Millisecond - 1).Milliseconds(), 1)
}

// handle is a parsed lease handle "<level>:<stream id>:<deliveries>:<key>".
type handle struct {
	level, id, n, key string
}

// parseHandle splits h; ok is false for a string that is no handle.
func parseHandle(h string) (hd handle, ok bool) {
	var rest string
	if hd.level, rest, ok = strings.Cut(h, ":"); !ok {
		return hd, false
	}
	if hd.id, rest, ok = strings.Cut(rest, ":"); !ok {
		return hd, false
	}
	if hd.n, hd.key, ok = strings.Cut(rest, ":"); !ok {
		return hd, false
	}
	if _, err := strconv.Atoi(hd.level); err != nil {
		return hd, false
	}
	if n, err := strconv.Atoi(hd.n); err != nil || n < 1 {
		return hd, false
	}
	if ms, seq, ok := strings.Cut(hd.id, "-"); !ok || !digits(ms) || !digits(seq) {
		return hd, false
	}
	return hd, true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Ack implements driver.Queue: one script call settles the whole batch
// (one XACK per level for keyless messages, then the acked prefix of each
// stream is trimmed).
func (d *Driver) Ack(ctx context.Context, topic, sub string, handles []string) error {
	if len(handles) == 0 {
		return nil
	}
	k, err := d.keys(topic, sub)
	if err != nil {
		return err
	}
	// Keyless first deliveries go in groups per level (one XACK each),
	// the others one by one.
	args := make([]any, 1, 2+4*len(handles))
	var slow []handle
	groups := 0
	for i := 0; i < len(handles); {
		hd, ok := parseHandle(handles[i])
		if !ok || hd.key != "" || hd.n != "1" {
			if ok {
				slow = append(slow, hd)
			}
			i++
			continue
		}
		at := len(args)
		args = append(args, hd.level, 0)
		k := 0
		for ; i < len(handles); i++ {
			h2, ok := parseHandle(handles[i])
			if !ok || h2.key != "" || h2.n != "1" || h2.level != hd.level {
				break
			}
			args = append(args, h2.id)
			k++
		}
		args[at+1] = k
		groups++
	}
	args[0] = groups
	for _, hd := range slow {
		args = append(args, hd.level, hd.id, hd.n, hd.key)
	}
	if len(args) == 1 {
		return nil
	}
	return ackScript.Run(ctx, d.c, k, args...).Err()
}

// Nack implements driver.Queue.
func (d *Driver) Nack(ctx context.Context, topic, sub, h string, n driver.Nack) error {
	k, err := d.keys(topic, sub)
	if err != nil {
		return err
	}
	hd, ok := parseHandle(h)
	if !ok {
		return driver.ErrNotLeased
	}
	act := "drop"
	switch n.Action {
	case driver.ActionRetry:
		act = "retry"
	case driver.ActionDeadLetter:
		act = "dead"
	}
	var delay int64
	if n.Delay > 0 {
		delay = (n.Delay + time.Millisecond - 1).Milliseconds()
	}
	ok2, err := nackScript.Run(ctx, d.c, k, hd.level, hd.id, hd.n, hd.key, act, delay, n.Reason, n.Error).Int()
	if err != nil {
		return err
	}
	if ok2 == 0 {
		return driver.ErrNotLeased
	}
	return nil
}

// Extend implements driver.Queue: XCLAIM ... IDLE JUSTID to the same
// consumer, which moves the lease on without raising the delivery count.
func (d *Driver) Extend(ctx context.Context, topic, sub, h string, vis time.Duration) error {
	k, err := d.keys(topic, sub)
	if err != nil {
		return err
	}
	hd, ok := parseHandle(h)
	if !ok {
		return driver.ErrNotLeased
	}
	ok2, err := extendScript.Run(ctx, d.c, k, hd.level, hd.id, hd.n, hd.key, visMillis(vis)).Int()
	if err != nil {
		return err
	}
	if ok2 == 0 {
		return driver.ErrNotLeased
	}
	return nil
}
