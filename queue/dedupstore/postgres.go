package dedupstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/queue"
)

// Postgres is a queue.DedupStore on a PostgreSQL table
// (scalekit_queue_handled). Safe for concurrent use.
type Postgres struct {
	pool *pgxpool.Pool
}

const schemaLock = 0x5ca1e_0003

// OpenPostgres creates the table (under an advisory lock) and returns the
// store.
func OpenPostgres(ctx context.Context, pool *pgxpool.Pool) (*Postgres, error) {
	if pool == nil {
		return nil, errors.New("dedupstore: OpenPostgres with a nil pool")
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(schemaLock)); err != nil {
		return nil, err
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(schemaLock))
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS scalekit_queue_handled (
	id         text PRIMARY KEY,
	done       boolean NOT NULL,
	expires_at timestamptz NOT NULL
)`); err != nil {
		return nil, err
	}
	return &Postgres{pool: pool}, nil
}

// Claim implements queue.DedupStore.
func (p *Postgres) Claim(ctx context.Context, id string, lease time.Duration) (queue.Claim, error) {
	var ok bool
	err := p.pool.QueryRow(ctx, `INSERT INTO scalekit_queue_handled (id, done, expires_at)
VALUES ($1, false, now() + $2 * interval '1 microsecond')
ON CONFLICT (id) DO UPDATE SET done = false, expires_at = EXCLUDED.expires_at
	WHERE scalekit_queue_handled.expires_at <= now()
RETURNING true`, id, lease.Microseconds()).Scan(&ok)
	if err == nil {
		return queue.ClaimNew, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	var done bool
	err = p.pool.QueryRow(ctx, "SELECT done FROM scalekit_queue_handled WHERE id = $1", id).Scan(&done)
	if errors.Is(err, pgx.ErrNoRows) {
		return queue.ClaimBusy, nil
	}
	if err != nil {
		return 0, err
	}
	if done {
		return queue.ClaimDone, nil
	}
	return queue.ClaimBusy, nil
}

// Done implements queue.DedupStore.
func (p *Postgres) Done(ctx context.Context, id string, ttl time.Duration) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO scalekit_queue_handled (id, done, expires_at)
VALUES ($1, true, now() + $2 * interval '1 microsecond')
ON CONFLICT (id) DO UPDATE SET done = true, expires_at = EXCLUDED.expires_at`, id, ttl.Microseconds())
	return err
}

// Release implements queue.DedupStore.
func (p *Postgres) Release(ctx context.Context, id string) error {
	_, err := p.pool.Exec(ctx, "DELETE FROM scalekit_queue_handled WHERE id = $1 AND NOT done", id)
	return err
}

// Purge deletes expired rows and reports how many.
func (p *Postgres) Purge(ctx context.Context) (int64, error) {
	tag, err := p.pool.Exec(ctx, "DELETE FROM scalekit_queue_handled WHERE expires_at <= now()")
	return tag.RowsAffected(), err
}
