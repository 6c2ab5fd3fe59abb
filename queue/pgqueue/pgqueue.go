package pgqueue

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// Channel is the LISTEN/NOTIFY channel Publish notifies (payload: the
// topic) unless Options.PollOnly is set.
const Channel = "scalekit_queue"

// DefaultDedupWindow is how long DedupIDs are remembered when
// Options.DedupWindow is zero.
const DefaultDedupWindow = 10 * time.Minute

// Options configures a Driver. A nil *Options means the defaults.
type Options struct {
	// PollOnly turns LISTEN/NOTIFY off: Publish sends no notification and
	// consumers only poll. Use it behind PgBouncer in transaction mode,
	// where notifications do not pass.
	PollOnly bool
	// DedupWindow is how long a DedupID is remembered per topic (default
	// DefaultDedupWindow).
	DedupWindow time.Duration
	// MaxBody is the largest body accepted (default 64 MiB; bytea's
	// practical limit is far above).
	MaxBody int
}

// Driver is the PostgreSQL backend of package queue. Messages are rows,
// one per subscription; Receive leases rows with SELECT … FOR UPDATE SKIP
// LOCKED, so any number of consumers in any number of processes compete
// without blocking one another; Ack deletes the rows of a whole batch in
// one statement, so completed rows never pile up. Times are the
// database's clock.
//
// Durability: Publish returns after its transaction commits, so a
// published message survives a crash of the server to the extent
// synchronous_commit and the server's fsync settings promise (and of the
// standby with synchronous replication).
//
// A Driver is safe for concurrent use. Close stops its LISTEN connection;
// the pool stays the caller's.
type Driver struct {
	pool *pgxpool.Pool
	opts Options

	mu   sync.RWMutex
	subs map[[2]string]int32

	lis  *listener
	acks ackGroups
	ops  sync.Mutex // serialises the occasional dedup clean-up
	pub  int64
}

// Open creates the schema (under an advisory lock, so that processes may
// start at once) and returns a Driver over pool.
func Open(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Driver, error) {
	if pool == nil {
		return nil, errors.New("pgqueue: Open with a nil pool")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.DedupWindow < 0 || o.MaxBody < 0 {
		return nil, errors.New("pgqueue: negative value in Options")
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	if o.MaxBody == 0 {
		o.MaxBody = 64 << 20
	}
	if err := createSchema(ctx, pool); err != nil {
		return nil, err
	}
	d := &Driver{pool: pool, opts: o, subs: map[[2]string]int32{}}
	if !o.PollOnly {
		d.lis = newListener(pool)
	}
	return d, nil
}

// Close stops the LISTEN connection. It does not close the pool.
func (d *Driver) Close() error {
	if d.lis != nil {
		d.lis.close()
	}
	return nil
}

// Limits implements driver.Limited.
func (d *Driver) Limits() driver.Limits {
	return driver.Limits{MaxBody: d.opts.MaxBody, MaxBatch: 1000}
}

// DedupWindow implements driver.DedupWindowed.
func (d *Driver) DedupWindow() time.Duration { return d.opts.DedupWindow }

// IsRetryable implements driver.Retryable: connection failures,
// serialization failures, deadlocks and server shutdowns are transient.
func (d *Driver) IsRetryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "40") ||
			pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	return errors.Is(err, pgx.ErrTxClosed) || strings.Contains(err.Error(), "conn closed")
}

func (d *Driver) subID(ctx context.Context, topic, sub string) (int32, error) {
	k := [2]string{topic, sub}
	d.mu.RLock()
	id, ok := d.subs[k]
	d.mu.RUnlock()
	if ok {
		return id, nil
	}
	err := d.pool.QueryRow(ctx, "SELECT id FROM scalekit_queue_subs WHERE topic = $1 AND name = $2", topic, sub).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, driver.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	d.mu.Lock()
	d.subs[k] = id
	d.mu.Unlock()
	return id, nil
}

// Subscribe implements driver.Queue.
func (d *Driver) Subscribe(ctx context.Context, topic, sub string) error {
	_, err := d.pool.Exec(ctx, "INSERT INTO scalekit_queue_subs (topic, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", topic, sub)
	if err != nil {
		return err
	}
	_, err = d.subID(ctx, topic, sub)
	return err
}

const insertSQL = `WITH fresh AS (
	INSERT INTO scalekit_queue_dedup (topic, dedup_id, expires_at)
	SELECT $1, x, now() + $9 * interval '1 microsecond' FROM unnest($8::text[]) x WHERE x <> ''
	ON CONFLICT (topic, dedup_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
		WHERE scalekit_queue_dedup.expires_at < now()
	RETURNING dedup_id
)
INSERT INTO scalekit_queue_msgs (sub_id, id, body, headers, key, prio_rank, not_before, published_at)
SELECT s.id, u.id, u.body, u.headers::jsonb, u.key, -u.priority, now() + u.delay * interval '1 microsecond', now()
FROM unnest($2::text[], $3::bytea[], $4::text[], $5::text[], $6::smallint[], $7::bigint[], $8::text[])
	WITH ORDINALITY AS u(id, body, headers, key, priority, delay, dedup, ord)
CROSS JOIN scalekit_queue_subs s
WHERE s.topic = $1 AND (u.dedup = '' OR u.dedup IN (SELECT dedup_id FROM fresh))
ORDER BY u.ord, s.id`

// insertPlainSQL is insertSQL for a batch without DedupIDs.
const insertPlainSQL = `INSERT INTO scalekit_queue_msgs (sub_id, id, body, headers, key, prio_rank, not_before, published_at)
SELECT s.id, u.id, u.body, u.headers::jsonb, u.key, -u.priority, now() + u.delay * interval '1 microsecond', now()
FROM unnest($2::text[], $3::bytea[], $4::text[], $5::text[], $6::smallint[], $7::bigint[])
	WITH ORDINALITY AS u(id, body, headers, key, priority, delay, ord)
CROSS JOIN scalekit_queue_subs s
WHERE s.topic = $1
ORDER BY u.ord, s.id`

// Publish implements driver.Queue: one round trip, one transaction. When
// messages carry ordering keys it first takes a transaction advisory lock
// per key, so that messages of one key commit in the order of their
// sequence numbers even from concurrent publishers.
func (d *Driver) Publish(ctx context.Context, topic string, msgs []driver.Message) error {
	n := len(msgs)
	ids := make([]string, 0, n)
	bodies := make([][]byte, 0, n)
	headers := make([]*string, 0, n)
	keys := make([]string, 0, n)
	prios := make([]int16, 0, n)
	delays := make([]int64, 0, n)
	dedups := make([]string, 0, n)
	var lockKeys []string
	var seen map[string]bool
	for i := range msgs {
		m := &msgs[i]
		if m.DedupID != "" {
			if seen == nil {
				seen = map[string]bool{}
			}
			if seen[m.DedupID] {
				continue // repeated within the batch
			}
			seen[m.DedupID] = true
		}
		ids = append(ids, m.ID)
		body := m.Body
		if body == nil {
			body = []byte{}
		}
		bodies = append(bodies, body)
		var h *string
		if len(m.Headers) > 0 {
			b, err := json.Marshal(m.Headers)
			if err != nil {
				return err
			}
			s := string(b)
			h = &s
		}
		headers = append(headers, h)
		keys = append(keys, m.Key)
		if m.Key != "" {
			lockKeys = append(lockKeys, m.Key)
		}
		prios = append(prios, int16(m.Priority))
		var delay int64
		if m.NotBefore.After(m.PublishedAt) {
			delay = m.NotBefore.Sub(m.PublishedAt).Microseconds()
		}
		delays = append(delays, delay)
		dedups = append(dedups, m.DedupID)
	}
	b := &pgx.Batch{}
	if len(lockKeys) > 0 {
		slices.Sort(lockKeys)
		lockKeys = slices.Compact(lockKeys)
		b.Queue(`SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended($1 || '/' || k, 0) AS h FROM unnest($2::text[]) k) x ORDER BY h`,
			topic, lockKeys)
	}
	if seen != nil {
		b.Queue(insertSQL, topic, ids, bodies, headers, keys, prios, delays, dedups, d.opts.DedupWindow.Microseconds())
	} else {
		b.Queue(insertPlainSQL, topic, ids, bodies, headers, keys, prios, delays)
	}
	if !d.opts.PollOnly {
		b.Queue("SELECT pg_notify($1, $2)", Channel, topic)
	}
	if err := d.pool.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if seen != nil {
		d.cleanDedup(ctx)
	}
	return nil
}

// cleanDedup deletes expired dedup rows now and then.
func (d *Driver) cleanDedup(ctx context.Context) {
	d.ops.Lock()
	d.pub++
	run := d.pub%256 == 1
	d.ops.Unlock()
	if run {
		_, _ = d.pool.Exec(ctx, "DELETE FROM scalekit_queue_dedup WHERE expires_at < now()")
	}
}

// receiveSettings rules out, for the transaction of one receive, the
// plans that read the whole backlog (see Receive).
const receiveSettings = "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)"

// receiveSQL picks, locks and leases up to $2 ready rows in one
// statement: the sub-select walks the primary key in delivery order and
// locks with SKIP LOCKED; the UPDATE then reaches exactly those rows by
// their physical address (a TID scan), never by a join that the planner
// could turn into a scan of the whole table. The lease changes no indexed
// column, so it is a HOT update: no index entry is written.
const receiveSQL = `UPDATE scalekit_queue_msgs m
SET deliveries = m.deliveries + 1, lease_until = now() + $3 * interval '1 microsecond'
WHERE m.ctid = ANY(ARRAY(
	SELECT c.ctid FROM scalekit_queue_msgs c
	WHERE c.sub_id = $1 AND c.not_before <= now() AND (c.lease_until IS NULL OR c.lease_until <= now())
	  AND (c.key = '' OR NOT EXISTS (
		SELECT 1 FROM scalekit_queue_msgs p
		WHERE p.sub_id = c.sub_id AND p.key = c.key AND p.key <> '' AND (p.seq < c.seq OR p.lease_until > now())))
	ORDER BY c.prio_rank, c.seq
	LIMIT $2
	FOR UPDATE SKIP LOCKED))
RETURNING m.seq, m.id, m.body, m.headers, m.key, -m.prio_rank, m.not_before, m.published_at, m.deliveries, m.last_error`

// Receive implements driver.Queue.
func (d *Driver) Receive(ctx context.Context, topic, sub string, max int, vis time.Duration) ([]driver.Delivery, error) {
	sid, err := d.subID(ctx, topic, sub)
	if err != nil {
		return nil, err
	}
	// The ordered index scan that stops after max rows is the plan that
	// matters; a queue table's statistics are always stale (it is empty,
	// then large, then empty), and a bitmap scan plus sort of the whole
	// backlog is what the planner picks when it believes the table small.
	// So the statement runs in a one-round-trip transaction that rules
	// those out.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(receiveSettings)
	b.Queue(receiveSQL, sid, max, vis.Microseconds())
	b.Queue("COMMIT")
	br := d.pool.SendBatch(ctx, b)
	defer br.Close()
	for i := 0; i < 2; i++ {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	out := make([]driver.Delivery, 0, max)
	seqs := make([]int64, 0, max)
	var hb []byte
	for rows.Next() {
		var d driver.Delivery
		var seq int64
		var hdr []byte
		var prio int16
		m := &d.Message
		if err := rows.Scan(&seq, &m.ID, &m.Body, &hdr, &m.Key, &prio, &m.NotBefore, &m.PublishedAt, &d.Deliveries, &d.LastError); err != nil {
			rows.Close()
			return nil, err
		}
		m.Priority = int(prio)
		if len(hdr) > 0 {
			if err := json.Unmarshal(hdr, &m.Headers); err != nil {
				rows.Close()
				return nil, err
			}
		}
		hb = strconv.AppendInt(hb[:0], seq, 10)
		hb = append(hb, '.')
		hb = strconv.AppendInt(hb, int64(d.Deliveries), 10)
		hb = append(hb, '.')
		hb = strconv.AppendInt(hb, int64(-m.Priority), 10)
		d.Handle = string(hb)
		out = append(out, d)
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := br.Exec(); err != nil { // COMMIT
		return nil, err
	}
	sortDeliveries(out, seqs)
	return out, nil
}

// sortDeliveries puts ds (with their seqs) in delivery order: priority
// first, then publication. RETURNING gives rows in physical order, which
// is usually that order already.
func sortDeliveries(ds []driver.Delivery, seqs []int64) {
	less := func(i, j int) bool {
		if ds[i].Priority != ds[j].Priority {
			return ds[i].Priority > ds[j].Priority
		}
		return seqs[i] < seqs[j]
	}
	sorted := true
	for i := 1; i < len(ds) && sorted; i++ {
		sorted = !less(i, i-1)
	}
	if sorted {
		return
	}
	idx := make([]int, len(ds))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case less(a, b):
			return -1
		case less(b, a):
			return 1
		}
		return 0
	})
	tmp := make([]driver.Delivery, len(ds))
	for i, j := range idx {
		tmp[i] = ds[j]
	}
	copy(ds, tmp)
}

// parseHandle splits "seq.deliveries.rank".
func parseHandle(h string) (seq int64, n int32, rank int16, ok bool) {
	i := strings.IndexByte(h, '.')
	if i < 0 {
		return 0, 0, 0, false
	}
	j := strings.IndexByte(h[i+1:], '.')
	if j < 0 {
		return 0, 0, 0, false
	}
	j += i + 1
	s, err1 := strconv.ParseInt(h[:i], 10, 64)
	c, err2 := strconv.ParseInt(h[i+1:j], 10, 32)
	r, err3 := strconv.ParseInt(h[j+1:], 10, 16)
	return s, int32(c), int16(r), err1 == nil && err2 == nil && err3 == nil
}

// ackSQL deletes the rows of the handles of one delivery count. The
// primary key is probed with = ANY arrays, which is an index scan whatever
// the statistics say (a join with the handles is not: the planner turns
// it into a scan of the table or a loop quadratic in the batch, and so
// does looking each row's count up in an array). Every condition is
// rechecked if a row changed under the statement (a concurrent Extend),
// so an ack is not lost to a race.
const ackSQL = `DELETE FROM scalekit_queue_msgs m
WHERE m.sub_id = $1 AND m.prio_rank = ANY($4::smallint[]) AND m.seq = ANY($2::bigint[])
	AND m.deliveries = $3 AND m.lease_until > now()`

// leased matches the row of a live lease: $1 sub, $2 seq, $3 deliveries,
// $6 rank.
const leased = `sub_id = $1 AND prio_rank = $6 AND seq = $2 AND deliveries = $3 AND lease_until > now()`

// Nack implements driver.Queue.
func (d *Driver) Nack(ctx context.Context, topic, sub, handle string, n driver.Nack) error {
	sid, err := d.subID(ctx, topic, sub)
	if err != nil {
		return err
	}
	seq, cnt, rank, ok := parseHandle(handle)
	if !ok {
		return driver.ErrNotLeased
	}
	var tag pgconn.CommandTag
	switch n.Action {
	case driver.ActionRetry:
		tag, err = d.pool.Exec(ctx, `UPDATE scalekit_queue_msgs SET lease_until = NULL, last_error = $4,
	not_before = now() + $5 * interval '1 microsecond' WHERE `+leased, sid, seq, cnt, n.Error, n.Delay.Microseconds(), rank)
		if err == nil && tag.RowsAffected() > 0 && n.Delay <= 0 && !d.opts.PollOnly {
			_, _ = d.pool.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, topic)
		}
	case driver.ActionDeadLetter:
		tag, err = d.pool.Exec(ctx, `WITH m AS (DELETE FROM scalekit_queue_msgs WHERE `+leased+`
	RETURNING sub_id, id, body, headers, key, -prio_rank AS priority, published_at, deliveries)
INSERT INTO scalekit_queue_dead (sub_id, id, body, headers, key, priority, published_at, deliveries, reason, last_error)
SELECT sub_id, id, body, headers, key, priority, published_at, deliveries, $4, $5 FROM m
ON CONFLICT (sub_id, id) DO UPDATE SET body = EXCLUDED.body, headers = EXCLUDED.headers, key = EXCLUDED.key,
	priority = EXCLUDED.priority, published_at = EXCLUDED.published_at, deliveries = EXCLUDED.deliveries,
	reason = EXCLUDED.reason, last_error = EXCLUDED.last_error, dead_at = now(),
	dead_seq = DEFAULT`, sid, seq, cnt, n.Reason, n.Error, rank)
	default:
		tag, err = d.pool.Exec(ctx, `DELETE FROM scalekit_queue_msgs WHERE `+strings.Replace(leased, "$6", "$4", 1), sid, seq, cnt, rank)
	}
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return driver.ErrNotLeased
	}
	return nil
}

// Extend implements driver.Queue.
func (d *Driver) Extend(ctx context.Context, topic, sub, handle string, vis time.Duration) error {
	sid, err := d.subID(ctx, topic, sub)
	if err != nil {
		return err
	}
	seq, cnt, rank, ok := parseHandle(handle)
	if !ok {
		return driver.ErrNotLeased
	}
	tag, err := d.pool.Exec(ctx, `UPDATE scalekit_queue_msgs SET lease_until = now() + $4 * interval '1 microsecond' WHERE `+strings.Replace(leased, "$6", "$5", 1),
		sid, seq, cnt, vis.Microseconds(), rank)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return driver.ErrNotLeased
	}
	return nil
}
