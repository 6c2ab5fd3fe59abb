package pgshard

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// targetTx runs fn in a transaction on the destination that bypasses the
// guard trigger and is fenced: it fails with ErrFenced if a newer executor
// has claimed the unit.
func (m *Migrator) targetTx(ctx context.Context, mv *move, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, m.nodes[mv.dst], func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL scalekit.shard_migrator = 'on'`); err != nil {
			return err
		}
		var fence int64
		// FOR SHARE, not FOR UPDATE: a writer with a stale map may
		// hold a row of this table while it waits for the ownership row
		// (FOR SHARE, compatible), and would deadlock with FOR UPDATE. A
		// newer executor's fence UPDATE still waits for this transaction.
		if err := tx.QueryRow(ctx, `SELECT fence FROM `+m.owner+` WHERE unit = $1 FOR SHARE`, mv.unit).Scan(&fence); err != nil {
			return err
		}
		if fence > mv.tok {
			return ErrFenced
		}
		return fn(tx)
	})
}

func (t *tableInfo) upsertSQL() string {
	set := make([]string, 0, len(t.cols))
	for _, c := range t.cols {
		set = append(set, c+" = excluded."+c)
	}
	return `INSERT INTO ` + t.q + ` SELECT * FROM json_populate_recordset(NULL::` + t.q + `, $1::json)
ON CONFLICT (` + t.pkList("") + `) DO UPDATE SET ` + strings.Join(set, ", ")
}

// copyAll copies the unit's rows table by table in primary-key order, in
// batches, with upserts (a resumed copy may see rows copied before).
func (m *Migrator) copyAll(ctx context.Context, mv *move) (int64, error) {
	var total int64
	src := m.nodes[mv.src]
	for _, t := range m.tables {
		var cursor []byte // JSON of the last row copied
		first := true
		for {
			var q string
			args := []any{mv.unit, m.o.BatchSize}
			if cursor == nil {
				q = `SELECT coalesce(json_agg(x ORDER BY ` + t.pkList("x") + `), '[]')::text FROM (SELECT * FROM ` + t.q +
					` WHERE ` + t.shard + ` = $1 ORDER BY ` + t.pkList("") + ` LIMIT $2) x`
			} else {
				q = `SELECT coalesce(json_agg(x ORDER BY ` + t.pkList("x") + `), '[]')::text FROM (SELECT * FROM ` + t.q +
					` WHERE ` + t.shard + ` = $1 AND (` + t.pkList("") + `) > (SELECT ` + t.pkList("c") +
					` FROM json_populate_record(NULL::` + t.q + `, $3::json) c) ORDER BY ` + t.pkList("") + ` LIMIT $2) x`
				args = append(args, string(cursor))
			}
			var batch string
			if err := src.QueryRow(ctx, q, args...).Scan(&batch); err != nil {
				return total, fmt.Errorf("copy %s: read: %w", t.name, err)
			}
			var rows []json.RawMessage
			if err := json.Unmarshal([]byte(batch), &rows); err != nil {
				return total, err
			}
			if len(rows) == 0 {
				break
			}
			err := m.targetTx(ctx, mv, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, t.upsertSQL(), batch)
				return err
			})
			if err != nil {
				return total, fmt.Errorf("copy %s: write: %w", t.name, err)
			}
			total += int64(len(rows))
			cursor = rows[len(rows)-1]
			if first {
				m.hook("copy")
				first = false
			}
		}
	}
	return total, nil
}

type change struct {
	seq int64
	tbl string
	row json.RawMessage
}

// drainOnce applies up to BatchSize change-log entries of the unit: it
// reads the entries and the current source rows of the keys they name in
// one snapshot of q, replaces those keys on the target, then deletes the
// entries by sequence number through q (never by a high-water mark: an
// entry of a transaction that commits late has a lower number and is
// picked up by the next round). It returns the number applied.
func (m *Migrator) drainOnce(ctx context.Context, q querier, mv *move) (int, error) {
	rows, err := q.Query(ctx, `SELECT seq, tbl, row::text FROM `+m.changes+` WHERE unit = $1 ORDER BY seq LIMIT $2`, mv.unit, m.o.BatchSize)
	if err != nil {
		return 0, err
	}
	var chs []change
	for rows.Next() {
		var c change
		var r string
		if err := rows.Scan(&c.seq, &c.tbl, &r); err != nil {
			rows.Close()
			return 0, err
		}
		c.row = json.RawMessage(r)
		chs = append(chs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(chs) == 0 {
		return 0, nil
	}
	keys := map[string][]json.RawMessage{}
	seqs := make([]int64, len(chs))
	for i, c := range chs {
		keys[c.tbl] = append(keys[c.tbl], c.row)
		seqs[i] = c.seq
	}
	current := map[string]string{}
	for _, t := range m.tables {
		k, ok := keys[t.name]
		if !ok {
			continue
		}
		kj, _ := json.Marshal(k)
		keys[t.name] = nil
		var cur string
		err := q.QueryRow(ctx, `SELECT coalesce(json_agg(t), '[]')::text FROM `+t.q+` t WHERE (`+t.pkList("t")+`) IN (SELECT `+t.pkList("k")+
			` FROM jsonb_populate_recordset(NULL::`+t.q+`, $1::jsonb) k)`, string(kj)).Scan(&cur)
		if err != nil {
			return 0, err
		}
		current[t.name] = cur
		keys[t.name] = []json.RawMessage{kj}
	}
	err = m.targetTx(ctx, mv, func(tx pgx.Tx) error {
		for _, t := range m.tables {
			cur, ok := current[t.name]
			if !ok {
				continue
			}
			if _, err := tx.Exec(ctx, `DELETE FROM `+t.q+` t USING (SELECT DISTINCT `+t.pkList("k")+` FROM jsonb_populate_recordset(NULL::`+t.q+`, $1::jsonb) k) k WHERE (`+
				t.pkList("t")+`) = (`+t.pkList("k")+`)`, string(keys[t.name][0])); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+t.q+` SELECT * FROM json_populate_recordset(NULL::`+t.q+`, $1::json)`, cur); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if _, err := q.Exec(ctx, `DELETE FROM `+m.changes+` WHERE seq = ANY($1)`, seqs); err != nil {
		return 0, err
	}
	return len(chs), nil
}

// catchUpOutside drains the change log while writes continue, until a
// round finds little left, so the paused catch-up at cut-over is short.
func (m *Migrator) catchUpOutside(ctx context.Context, mv *move, st *Stats) error {
	for round := 0; round < 50; round++ {
		var n int
		err := pgx.BeginTxFunc(ctx, m.nodes[mv.src], pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
			var err error
			n, err = m.drainOnce(ctx, tx, mv)
			return err
		})
		if err != nil {
			return fmt.Errorf("catch-up: %w", err)
		}
		st.Changes += int64(n)
		if n < max(1, m.o.BatchSize/4) {
			return nil
		}
	}
	return nil
}

// checksum returns the row count and an order-independent checksum of the
// unit's rows in every table.
func (m *Migrator) checksum(ctx context.Context, q querier, unit int) (string, error) {
	var b strings.Builder
	for _, t := range m.tables {
		var n int64
		var sum string
		err := q.QueryRow(ctx, `SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text FROM `+
			t.q+` t WHERE `+t.shard+` = $1`, unit).Scan(&n, &sum)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s:%d:%s;", t.name, n, sum)
	}
	return b.String(), nil
}
