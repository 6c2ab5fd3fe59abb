package pgsaga

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/saga/driver"
)

// Begin implements driver.TxLog.
func (l *Log) Begin(ctx context.Context, tx driver.Tx) error {
	parts := tx.Participants
	if parts == nil {
		parts = []string{}
	}
	tag, err := l.db.Exec(ctx, `INSERT INTO `+l.txs+` (id, participants) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, tx.ID, parts)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return driver.ErrExists
	}
	return nil
}

// Decide implements driver.TxLog. The first decision wins: the statement
// only fills an empty decision, under the row lock, so a concurrent
// commit and presumed abort serialize.
func (l *Log) Decide(ctx context.Context, id string, d driver.Decision) (driver.Decision, error) {
	var got string
	var err error
	if d == driver.Commit {
		err = l.db.QueryRow(ctx, `UPDATE `+l.txs+` SET decision = $2, updated_at = now() WHERE id = $1 AND decision = '' RETURNING decision`,
			id, string(d)).Scan(&got)
	} else {
		err = l.db.QueryRow(ctx, `INSERT INTO `+l.txs+` (id, decision) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET decision = $2, updated_at = now() WHERE `+l.txs+`.decision = '' RETURNING decision`,
			id, string(d)).Scan(&got)
	}
	if err == nil {
		return driver.Decision(got), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return driver.None, err
	}
	// Nothing written: a decision exists already (or, for a commit, the
	// transaction is unknown). Read it with a fresh snapshot.
	err = l.db.QueryRow(ctx, `SELECT decision FROM `+l.txs+` WHERE id = $1`, id).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return driver.None, driver.ErrNotFound
	}
	return driver.Decision(got), err
}

// Finish implements driver.TxLog.
func (l *Log) Finish(ctx context.Context, id string) error {
	_, err := l.db.Exec(ctx, `UPDATE `+l.txs+` SET finished = true, updated_at = now() WHERE id = $1`, id)
	return err
}

const txCols = `id, participants, decision, finished, created_at, updated_at`

func scanTx(row pgx.Row) (driver.Tx, error) {
	var t driver.Tx
	var d string
	err := row.Scan(&t.ID, &t.Participants, &d, &t.Finished, &t.Created, &t.Updated)
	t.Decision = driver.Decision(d)
	return t, err
}

// GetTx implements driver.TxLog.
func (l *Log) GetTx(ctx context.Context, id string) (driver.Tx, error) {
	t, err := scanTx(l.db.QueryRow(ctx, `SELECT `+txCols+` FROM `+l.txs+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return driver.Tx{}, driver.ErrNotFound
	}
	return t, err
}

// ListTx implements driver.TxLog.
func (l *Log) ListTx(ctx context.Context, f driver.TxFilter) ([]driver.Tx, error) {
	rows, err := l.db.Query(ctx, `SELECT `+txCols+` FROM `+l.txs+`
WHERE (NOT $1 OR NOT finished) AND ($2::timestamptz IS NULL OR updated_at < $2) AND id > $3
ORDER BY id LIMIT $4`, f.Unfinished, before(f.UpdatedBefore), f.After, limit(f.Limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []driver.Tx
	for rows.Next() {
		t, err := scanTx(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
