package pglock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/lock/driver"
)

// MinTTL is the shortest lease the driver accepts. PostgreSQL keeps
// timestamps to the microsecond, but a lease shorter than a few round trips
// cannot be renewed in time, so package lock's own minimum applies too.
const MinTTL = 10 * time.Millisecond

// maxChannelLen is the longest LISTEN/NOTIFY channel name (NAMEDATALEN-1).
const maxChannelLen = 63

// Options configures a Driver. A nil *Options means the defaults.
type Options struct {
	// Table is the lease table, optionally schema-qualified as
	// "schema.table" (default DefaultTable). The token sequence is the
	// table's name with the suffix "_token", in the same schema.
	Table string
	// Channel is the LISTEN/NOTIFY channel on which releases are
	// announced (default: the table name with the suffix "_released",
	// without the schema). Drivers that share a table must share it.
	Channel string
	// ListenIdle is how long the listening connection of Notify stays
	// open after its last subscriber left (default 30s).
	ListenIdle time.Duration
}

// Driver is a lock driver on a PostgreSQL lease table. Each key is one row
// holding the owner, the metadata, the fencing token and the expiry time;
// all times are the database's own clock (now()), so the clocks of the
// clients do not matter. Every call is one statement and one round trip.
//
// A fencing token is drawn from a sequence while the acquiring statement
// holds the key's row lock, so it is larger than every token handed out for
// the key before, and the sequence is durable, so this holds across server
// restarts and crashes. (Tokens are unique across keys too; sequences skip
// values after a crash, which is harmless.)
//
// It implements driver.Locker, driver.Notifier (LISTEN/NOTIFY on release;
// needs a *pgxpool.Pool, or Options that say how to connect — see Notify),
// driver.Limited and driver.Retryable. A Driver is safe for concurrent use
// if db is; call Close to stop the listening connection of Notify.
type Driver struct {
	db      DB
	table   string // quoted
	seq     string // quoted
	channel string
	idle    time.Duration

	acquireSQL, renewSQL, releaseSQL, holderSQL string

	mu sync.Mutex
	ls *listener // nil until the first Notify
}

var (
	_ driver.Locker    = (*Driver)(nil)
	_ driver.Notifier  = (*Driver)(nil)
	_ driver.Limited   = (*Driver)(nil)
	_ driver.Retryable = (*Driver)(nil)
)

// New returns a Driver on db. It does no I/O: create the table and sequence
// once with CreateSchema, or by migration with the statements in its doc.
func New(db DB, opts *Options) (*Driver, error) {
	if db == nil {
		return nil, errors.New("pglock: nil DB")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.ListenIdle < 0 {
		return nil, fmt.Errorf("pglock: negative ListenIdle %v", o.ListenIdle)
	}
	if o.ListenIdle == 0 {
		o.ListenIdle = 30 * time.Second
	}
	table, seq, err := quoteTable(o.Table)
	if err != nil {
		return nil, err
	}
	if o.Channel == "" {
		o.Channel = unqualified(o.Table) + "_released"
	}
	if err := checkText(o.Channel); err != nil {
		return nil, fmt.Errorf("pglock: invalid channel %q: %w", o.Channel, err)
	}
	if len(o.Channel) > maxChannelLen {
		return nil, fmt.Errorf("pglock: channel name %q is longer than PostgreSQL's %d bytes; set Options.Channel", o.Channel, maxChannelLen)
	}
	d := &Driver{db: db, table: table, seq: seq, channel: o.Channel, idle: o.ListenIdle}
	d.prepareSQL()
	return d, nil
}

// Open is New followed by CreateSchema.
func Open(ctx context.Context, db DB, opts *Options) (*Driver, error) {
	d, err := New(db, opts)
	if err != nil {
		return nil, err
	}
	if err := d.CreateSchema(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// CreateSchema creates the lease table and its token sequence if they do
// not exist. With the default names:
//
//	CREATE SEQUENCE IF NOT EXISTS scalekit_locks_token AS bigint MINVALUE 1 NO CYCLE;
//	CREATE TABLE IF NOT EXISTS scalekit_locks (
//	    key        text PRIMARY KEY,
//	    owner      text NOT NULL DEFAULT '',
//	    meta       text NOT NULL DEFAULT '',
//	    token      bigint NOT NULL,
//	    expires_at timestamptz NOT NULL
//	);
//
// It is safe to call from several processes at once.
func (d *Driver) CreateSchema(ctx context.Context) error {
	if err := createSchema(ctx, d.db, d.table, d.seq); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("pglock: create schema %s: %w", d.table, err)
	}
	return nil
}

func unqualified(table string) string {
	for i := len(table) - 1; i >= 0; i-- {
		if table[i] == '.' {
			return table[i+1:]
		}
	}
	return table
}

// prepareSQL builds the four statements of the driver.
//
// TryAcquire inserts the row or, if the key has a row already, takes it
// over when its lease has expired (or is the caller's own: a retried
// acquisition keeps its token). The token of a takeover is drawn in the
// UPDATE, after the row lock is held, so it is larger than the token of the
// holder it replaces even if that holder drew its token later than this
// statement began. A statement that inserts a new row uses the value drawn
// for VALUES; no earlier token exists for its key (rows are never deleted).
func (d *Driver) prepareSQL() {
	t := d.table
	d.acquireSQL = "INSERT INTO " + t + " AS l (key, owner, meta, token, expires_at) " +
		"VALUES ($1, $2, $3, nextval('" + escapeLiteral(d.seq) + "'), now() + $4::bigint * interval '1 microsecond') " +
		"ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, meta = excluded.meta, " +
		"expires_at = excluded.expires_at, " +
		"token = CASE WHEN l.owner = excluded.owner THEN l.token ELSE nextval('" + escapeLiteral(d.seq) + "') END " +
		"WHERE l.expires_at <= now() OR l.owner = excluded.owner " +
		"RETURNING token"
	d.renewSQL = "UPDATE " + t + " SET expires_at = now() + $3::bigint * interval '1 microsecond' " +
		"WHERE key = $1 AND owner = $2 AND expires_at > now()"
	d.releaseSQL = "UPDATE " + t + " SET owner = '', meta = '', expires_at = '-infinity' " +
		"WHERE key = $1 AND owner = $2 AND expires_at > now() " +
		"RETURNING pg_notify($3, key)::text"
	d.holderSQL = "SELECT owner, meta, token, (extract(epoch FROM expires_at - now()) * 1e6)::bigint " +
		"FROM " + t + " WHERE key = $1 AND expires_at > now()"
}

// escapeLiteral doubles single quotes for use inside an SQL string literal.
func escapeLiteral(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// Limits reports MaxKeyLen and MinTTL.
func (d *Driver) Limits() driver.Limits {
	return driver.Limits{MaxKeyLen: MaxKeyLen, MinTTL: MinTTL}
}

func micros(ttl time.Duration) int64 { return max(ttl.Microseconds(), 1) }

func checkKey(key string) error {
	if key == "" {
		return errors.New("pglock: empty key")
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("pglock: key of %d bytes is longer than %d", len(key), MaxKeyLen)
	}
	if err := checkText(key); err != nil {
		return fmt.Errorf("pglock: key %q: %w", key, err)
	}
	return nil
}

func checkRequest(req driver.Request) error {
	if err := checkKey(req.Key); err != nil {
		return err
	}
	if req.Owner == "" {
		return errors.New("pglock: empty owner")
	}
	if err := checkText(req.Owner); err != nil {
		return fmt.Errorf("pglock: owner: %w", err)
	}
	if err := checkText(req.Meta); err != nil {
		return fmt.Errorf("pglock: meta: %w", err)
	}
	if req.TTL <= 0 {
		return fmt.Errorf("pglock: TTL %v must be positive", req.TTL)
	}
	return nil
}

// TryAcquire takes the key in one statement (see the package doc). It
// returns driver.ErrLocked when a live lease of another owner holds it.
func (d *Driver) TryAcquire(ctx context.Context, req driver.Request) (int64, error) {
	if err := checkRequest(req); err != nil {
		return 0, err
	}
	var tok int64
	err := d.db.QueryRow(ctx, d.acquireSQL, req.Key, req.Owner, req.Meta, micros(req.TTL)).Scan(&tok)
	switch {
	case err == nil:
		return tok, nil
	case errors.Is(err, pgx.ErrNoRows):
		return 0, driver.ErrLocked
	default:
		return 0, err
	}
}

// Renew moves the expiry of owner's live lease on key to now() + ttl, in
// one statement. It returns driver.ErrNotHeld if owner has no live lease.
func (d *Driver) Renew(ctx context.Context, key, owner string, ttl time.Duration) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("pglock: TTL %v must be positive", ttl)
	}
	tag, err := d.db.Exec(ctx, d.renewSQL, key, owner, micros(ttl))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return driver.ErrNotHeld
	}
	return nil
}

// Release frees owner's live lease on key and announces it on the
// driver's NOTIFY channel, in one statement. It returns driver.ErrNotHeld
// if owner has no live lease (expired, released, or another owner's).
func (d *Driver) Release(ctx context.Context, key, owner string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	var discard string
	err := d.db.QueryRow(ctx, d.releaseSQL, key, owner, d.channel).Scan(&discard)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return driver.ErrNotHeld
	default:
		return err
	}
}

// Holder reads the live lease of key and the time left on it by the
// database clock, in one statement.
func (d *Driver) Holder(ctx context.Context, key string) (driver.Holder, bool, error) {
	if err := checkKey(key); err != nil {
		return driver.Holder{}, false, err
	}
	var h driver.Holder
	var left int64
	err := d.db.QueryRow(ctx, d.holderSQL, key).Scan(&h.Owner, &h.Meta, &h.Token, &left)
	switch {
	case err == nil:
		h.TTL = time.Duration(left) * time.Microsecond
		return h, true, nil
	case errors.Is(err, pgx.ErrNoRows):
		return driver.Holder{}, false, nil
	default:
		return driver.Holder{}, false, err
	}
}

// Close stops the listening connection of Notify, if one is open, and
// wakes its subscribers. The Driver stays usable; a later Notify listens
// again. It does not close db.
func (d *Driver) Close() error {
	d.mu.Lock()
	ls := d.ls
	d.ls = nil
	d.mu.Unlock()
	if ls != nil {
		ls.shutdown()
	}
	return nil
}
