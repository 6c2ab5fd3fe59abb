package outbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/queue"
)

// ErrInvalidMessage is returned by Write for a message the outbox cannot
// store: an empty topic, a negative delay, NotBefore (use Delay), or a
// priority out of range.
var ErrInvalidMessage = errors.New("outbox: invalid message")

// schemaLock is the advisory lock key under which Open creates the table.
const schemaLock = 0x5ca1e_0002

// lockSQL takes a transaction advisory lock per ordering key, in a fixed
// order: writers of one key commit one after the other, so the id order of
// a key's rows is their commit order.
const lockSQL = `SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended('scalekit_outbox/' || k, 0) AS h FROM jsonb_array_elements_text($1::jsonb) k) x ORDER BY h`

const insertSQL = `INSERT INTO scalekit_outbox (topic, msg_id, key, body, headers, priority, delay_us) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)`

// Open creates the outbox table (under an advisory lock, so that any
// number of processes may start at once).
func Open(ctx context.Context, pool *pgxpool.Pool) error {
	if pool == nil {
		return errors.New("outbox: Open with a nil pool")
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(schemaLock)); err != nil {
		return err
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(schemaLock))
	}()
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS scalekit_outbox (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	topic      text NOT NULL,
	msg_id     text NOT NULL,
	key        text NOT NULL DEFAULT '',
	body       bytea NOT NULL,
	headers    jsonb,
	priority   smallint NOT NULL DEFAULT 0,
	delay_us   bigint NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT now()
)`)
	return err
}

type row struct {
	topic, id, key string
	body           []byte
	headers        *string
	priority       int16
	delay          int64
}

func rows(topic string, msgs []queue.Message) ([]row, []string, error) {
	if topic == "" || len(topic) > queue.MaxNameLen {
		return nil, nil, fmt.Errorf("%w: topic %q", ErrInvalidMessage, topic)
	}
	out := make([]row, len(msgs))
	var keys []string
	for i, m := range msgs {
		if m.Delay < 0 || !m.NotBefore.IsZero() || m.Priority < queue.MinPriority || m.Priority > queue.MaxPriority ||
			len(m.Key) > queue.MaxNameLen || len(m.ID) > queue.MaxNameLen {
			return nil, nil, fmt.Errorf("%w: message %d (negative Delay, NotBefore set, priority out of range or key/id too long)", ErrInvalidMessage, i)
		}
		r := row{topic: topic, id: m.ID, key: m.Key, body: m.Body, priority: int16(m.Priority), delay: m.Delay.Microseconds()}
		if r.id == "" {
			r.id = newID()
		}
		if r.body == nil {
			r.body = []byte{}
		}
		if len(m.Headers) > 0 {
			b, err := json.Marshal(m.Headers)
			if err != nil {
				return nil, nil, err
			}
			s := string(b)
			r.headers = &s
		}
		if m.Key != "" {
			keys = append(keys, m.Key)
		}
		out[i] = r
	}
	return out, keys, nil
}

// Write stores msgs for topic in the caller's transaction tx: they are
// published by the Relay if and only if tx commits. Messages with an
// ordering key take a transaction lock on their key, so concurrent
// transactions writing the same key commit one after the other and are
// relayed in that order. Each message keeps its ID (generated when empty),
// which the Relay also uses as the DedupID.
func Write(ctx context.Context, tx pgx.Tx, topic string, msgs ...queue.Message) error {
	rs, keys, err := rows(topic, msgs)
	if err != nil || len(rs) == 0 {
		return err
	}
	b := &pgx.Batch{}
	if len(keys) > 0 {
		kj, _ := json.Marshal(keys)
		b.Queue(lockSQL, string(kj))
	}
	for _, r := range rs {
		b.Queue(insertSQL, r.topic, r.id, r.key, r.body, r.headers, r.priority, r.delay)
	}
	return tx.SendBatch(ctx, b).Close()
}

// WriteSQL is Write for a database/sql transaction (on the pgx stdlib
// driver or any PostgreSQL driver).
func WriteSQL(ctx context.Context, tx *sql.Tx, topic string, msgs ...queue.Message) error {
	if tx == nil {
		return errors.New("outbox: WriteSQL with a nil transaction")
	}
	rs, keys, err := rows(topic, msgs)
	if err != nil || len(rs) == 0 {
		return err
	}
	if len(keys) > 0 {
		kj, _ := json.Marshal(keys)
		if _, err := tx.ExecContext(ctx, lockSQL, string(kj)); err != nil {
			return err
		}
	}
	for _, r := range rs {
		var h any
		if r.headers != nil {
			h = *r.headers
		}
		if _, err := tx.ExecContext(ctx, insertSQL, r.topic, r.id, r.key, r.body, h, r.priority, r.delay); err != nil {
			return err
		}
	}
	return nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "ob-" + hex.EncodeToString(b[:])
}
