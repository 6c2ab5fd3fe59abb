package pgqueue

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/queue/driver"
)

const deadCols = `id, body, headers, key, priority, published_at, deliveries, reason, last_error, dead_at`

func scanDead(r pgx.Row) (driver.DeadLetter, error) {
	var dl driver.DeadLetter
	var hdr []byte
	var prio int16
	m := &dl.Message
	if err := r.Scan(&m.ID, &m.Body, &hdr, &m.Key, &prio, &m.PublishedAt, &dl.Deliveries, &dl.Reason, &dl.LastError, &dl.DeadAt); err != nil {
		return dl, err
	}
	m.Priority = int(prio)
	if len(hdr) > 0 {
		if err := json.Unmarshal(hdr, &m.Headers); err != nil {
			return dl, err
		}
	}
	return dl, nil
}

// DeadLetters implements driver.Queue.
func (d *Driver) DeadLetters(ctx context.Context, topic, sub, after string, limit int) ([]driver.DeadLetter, error) {
	sid, err := d.subID(ctx, topic, sub)
	if err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, `SELECT `+deadCols+` FROM scalekit_queue_dead
WHERE sub_id = $1 AND dead_seq > coalesce((SELECT dead_seq FROM scalekit_queue_dead WHERE sub_id = $1 AND id = $2), 0)
ORDER BY dead_seq LIMIT $3`, sid, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []driver.DeadLetter
	for rows.Next() {
		dl, err := scanDead(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, dl)
	}
	return out, rows.Err()
}

// DeadLetter implements driver.Queue.
func (d *Driver) DeadLetter(ctx context.Context, topic, sub, id string) (driver.DeadLetter, error) {
	sid, err := d.subID(ctx, topic, sub)
	if err != nil {
		return driver.DeadLetter{}, err
	}
	dl, err := scanDead(d.pool.QueryRow(ctx, `SELECT `+deadCols+` FROM scalekit_queue_dead WHERE sub_id = $1 AND id = $2`, sid, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return dl, driver.ErrNotFound
	}
	return dl, err
}

// Redrive implements driver.Queue: the dead letters become new rows at the
// end of the subscription, ready now, with a delivery count of 0.
func (d *Driver) Redrive(ctx context.Context, topic, sub string, ids []string) (int, error) {
	sid, err := d.subID(ctx, topic, sub)
	if err != nil {
		return 0, err
	}
	tag, err := d.pool.Exec(ctx, `WITH x AS (
	DELETE FROM scalekit_queue_dead WHERE sub_id = $1 AND id = ANY($2)
	RETURNING sub_id, id, body, headers, key, priority, published_at, dead_seq)
INSERT INTO scalekit_queue_msgs (sub_id, id, body, headers, key, prio_rank, not_before, published_at)
SELECT sub_id, id, body, headers, key, -priority, now(), published_at FROM x ORDER BY dead_seq`, sid, ids)
	if err != nil {
		return 0, err
	}
	if tag.RowsAffected() > 0 && !d.opts.PollOnly {
		_, _ = d.pool.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, topic)
	}
	return int(tag.RowsAffected()), nil
}

// Purge implements driver.Queue.
func (d *Driver) Purge(ctx context.Context, topic, sub string, ids []string) (int, error) {
	sid, err := d.subID(ctx, topic, sub)
	if err != nil {
		return 0, err
	}
	q, args := `DELETE FROM scalekit_queue_dead WHERE sub_id = $1 AND id = ANY($2)`, []any{sid, ids}
	if ids == nil {
		q, args = `DELETE FROM scalekit_queue_dead WHERE sub_id = $1`, []any{sid}
	}
	tag, err := d.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// Stats implements driver.Queue.
func (d *Driver) Stats(ctx context.Context, topic, sub string) (driver.Stats, error) {
	sid, err := d.subID(ctx, topic, sub)
	if err != nil {
		return driver.Stats{}, err
	}
	var st driver.Stats
	var oldest *pgtime
	err = d.pool.QueryRow(ctx, `SELECT
	(SELECT count(*) FROM scalekit_queue_msgs WHERE sub_id = $1),
	(SELECT count(*) FROM scalekit_queue_msgs WHERE sub_id = $1 AND lease_until > now()),
	(SELECT count(*) FROM scalekit_queue_dead WHERE sub_id = $1),
	(SELECT min(published_at) FROM scalekit_queue_msgs WHERE sub_id = $1)`, sid).Scan(&st.Backlog, &st.InFlight, &st.DeadLetters, &oldest)
	if oldest != nil {
		st.Oldest = *oldest
	}
	return st, err
}
