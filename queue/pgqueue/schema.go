package pgqueue

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaLock is the advisory lock key under which Open creates the schema,
// so that any number of processes may start at once against an empty
// database.
const schemaLock = 0x5ca1e_0001

// Tables. Each subscription has a small integer id; its messages are rows
// of scalekit_queue_msgs ordered by seq (a per-table identity), its dead
// letters rows of scalekit_queue_dead. The message table has a single
// index for the hot path, scalekit_queue_msgs_ready (sub_id, prio_rank,
// seq, not_before, lease_until): its first three columns are the delivery
// order and the address of a lease (the handle carries all three); the
// last two let a receive skip delayed and leased rows inside the index,
// without visiting the heap (a row that is not leased has lease_until
// -infinity, never NULL, so that "ready" is a plain index condition).
// Without them every receive would walk, row by row through the heap, past
// all the messages that consumers hold, and that work grows with the
// number in flight. Keyed messages have a second, partial index.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS scalekit_queue_subs (
	id    serial PRIMARY KEY,
	topic text NOT NULL,
	name  text NOT NULL,
	UNIQUE (topic, name)
)`,
	`CREATE TABLE IF NOT EXISTS scalekit_queue_msgs (
	sub_id       int NOT NULL,
	seq          bigint GENERATED ALWAYS AS IDENTITY,
	id           text NOT NULL,
	body         bytea NOT NULL,
	headers      jsonb,
	key          text NOT NULL DEFAULT '',
	prio_rank    smallint NOT NULL DEFAULT 0, -- minus the priority: the index orders it ascending
	not_before   timestamptz NOT NULL,
	published_at timestamptz NOT NULL,
	deliveries   int NOT NULL DEFAULT 0,
	last_error   text NOT NULL DEFAULT '',
	lease_until  timestamptz NOT NULL DEFAULT '-infinity'
) WITH (fillfactor = 80)`,
	// Tables created by an earlier version had a primary key on
	// (sub_id, prio_rank, seq) and NULL for "not leased".
	`DO $$ BEGIN
	IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'scalekit_queue_msgs'::regclass
		AND attname = 'lease_until' AND NOT attnotnull) THEN
		UPDATE scalekit_queue_msgs SET lease_until = '-infinity' WHERE lease_until IS NULL;
		ALTER TABLE scalekit_queue_msgs ALTER COLUMN lease_until SET DEFAULT '-infinity',
			ALTER COLUMN lease_until SET NOT NULL;
	END IF;
END $$`,
	`CREATE INDEX IF NOT EXISTS scalekit_queue_msgs_ready ON scalekit_queue_msgs (sub_id, prio_rank, seq, not_before, lease_until)`,
	`ALTER TABLE scalekit_queue_msgs DROP CONSTRAINT IF EXISTS scalekit_queue_msgs_pkey`,
	`CREATE INDEX IF NOT EXISTS scalekit_queue_msgs_key ON scalekit_queue_msgs (sub_id, key, seq) WHERE key <> ''`,
	`CREATE TABLE IF NOT EXISTS scalekit_queue_dead (
	sub_id       int NOT NULL,
	dead_seq     bigint GENERATED ALWAYS AS IDENTITY,
	id           text NOT NULL,
	body         bytea NOT NULL,
	headers      jsonb,
	key          text NOT NULL DEFAULT '',
	priority     smallint NOT NULL DEFAULT 0,
	published_at timestamptz NOT NULL,
	deliveries   int NOT NULL,
	reason       text NOT NULL,
	last_error   text NOT NULL,
	dead_at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (sub_id, id)
)`,
	`CREATE INDEX IF NOT EXISTS scalekit_queue_dead_order ON scalekit_queue_dead (sub_id, dead_seq)`,
	`CREATE TABLE IF NOT EXISTS scalekit_queue_dedup (
	topic      text NOT NULL,
	dedup_id   text NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (topic, dedup_id)
)`,
}

// createSchema creates the tables under a session advisory lock.
func createSchema(ctx context.Context, pool *pgxpool.Pool) error {
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
	for _, q := range schema {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("pgqueue: create schema: %w", err)
		}
	}
	return nil
}
