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
// index for the hot path, its primary key (sub_id, prio_rank, seq): the
// delivery order, and the address of a lease (the handle carries all
// three), so that an insert maintains one index only. Keyed messages
// have a second, partial index.
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
	lease_until  timestamptz,
	PRIMARY KEY (sub_id, prio_rank, seq)
) WITH (fillfactor = 80)`,
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
