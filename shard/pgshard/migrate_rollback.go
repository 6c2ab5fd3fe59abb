package pgshard

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/shard"
)

// ErrPastCutover: Rollback was asked for a move whose writes have already
// switched; finish it with Move and move the shard back instead.
var ErrPastCutover = errors.New("pgshard: move is past its cut-over")

// Rollback abandons the unfinished move of unit while the source still
// owns the shard's writes: reads go back to the source, capture stops, and
// the rows copied to the target are deleted. It is a no-op when no move
// is unfinished, and returns ErrPastCutover once the source has given up
// the writes.
func (m *Migrator) Rollback(ctx context.Context, unit int) error {
	if err := m.describe(ctx); err != nil {
		return err
	}
	lease, err := m.locker.Acquire(ctx, fmt.Sprintf("%s:move:%s:%d", m.o.Prefix, m.mapName, unit), &lock.AcquireOptions{TTL: m.o.LeaseTTL})
	if err != nil {
		return fmt.Errorf("pgshard.Rollback %d: lease: %w", unit, err)
	}
	defer func() { _ = lease.Release(context.Background()) }()
	mv := &move{unit: unit, tok: lease.Token()}
	err = m.ctl.pool.QueryRow(ctx, `SELECT src, dst, state FROM `+m.moves+` WHERE map_name = $1 AND unit = $2`, m.mapName, unit).Scan(&mv.src, &mv.dst, &mv.state)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && mv.state == "done") {
		return nil
	}
	if err != nil {
		return err
	}
	if mv.state == "switched" {
		return fmt.Errorf("pgshard.Rollback %d: %w", unit, ErrPastCutover)
	}
	if err := m.setState(ctx, mv, mv.state); err != nil { // fence
		return err
	}
	var owned bool
	if err := m.nodes[mv.src].QueryRow(ctx, `SELECT owned FROM `+m.owner+` WHERE unit = $1`, unit).Scan(&owned); err != nil {
		return err
	}
	if !owned { // the cut-over's source transaction committed
		return fmt.Errorf("pgshard.Rollback %d: %w", unit, ErrPastCutover)
	}
	if _, err := m.nodes[mv.dst].Exec(ctx, `UPDATE `+m.owner+` SET owned = false, capturing = false, fence = $2 WHERE unit = $1 AND fence <= $2`, unit, mv.tok); err != nil {
		return err
	}
	err = m.publish(ctx, mv, "rollback", func(cur *shard.Map) (*shard.Map, error) {
		if cur.ReadNodeOf(unit) == mv.src {
			return nil, nil
		}
		return cur.SwitchReads(unit, mv.src)
	})
	if err != nil {
		return fmt.Errorf("pgshard.Rollback %d: reads back: %w", unit, err)
	}
	if _, err := m.nodes[mv.src].Exec(ctx, `UPDATE `+m.owner+` SET capturing = false, fence = $2 WHERE unit = $1 AND fence <= $2`, unit, mv.tok); err != nil {
		return err
	}
	for _, t := range m.tables {
		for {
			var n int64
			err := m.targetTx(ctx, mv, func(tx pgx.Tx) error {
				ct, err := tx.Exec(ctx, `DELETE FROM `+t.q+` WHERE ctid IN (SELECT ctid FROM `+t.q+` WHERE `+t.shard+` = $1 LIMIT $2)`, unit, m.o.BatchSize)
				n = ct.RowsAffected()
				return err
			})
			if err != nil {
				return fmt.Errorf("pgshard.Rollback %d: delete copy: %w", unit, err)
			}
			if n == 0 {
				break
			}
		}
	}
	if _, err := m.nodes[mv.src].Exec(ctx, `DELETE FROM `+m.changes+` WHERE unit = $1`, unit); err != nil {
		return err
	}
	return m.setState(ctx, mv, "done")
}
