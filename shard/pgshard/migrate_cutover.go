package pgshard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/shard"
)

// cutover switches writes: it retries the paused step until it fits in
// MaxPause.
func (m *Migrator) cutover(ctx context.Context, mv *move, st *Stats) error {
	for attempt := 0; attempt < 5; attempt++ {
		if err := m.catchUpOutside(ctx, mv, st); err != nil {
			return err
		}
		done, err := m.tryCutover(ctx, mv, st)
		if err != nil || done {
			return err
		}
	}
	return fmt.Errorf("cut-over did not fit in MaxPause %v in 5 attempts", m.o.MaxPause)
}

func lockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// tryCutover is the write pause. Holding the source's ownership row FOR
// UPDATE makes writers of the unit wait (their guard trigger wants it FOR
// SHARE); the last changes are applied, source and target verified, the
// target made owner and the source disowned; when the source transaction
// commits, waiting writers fail over (SK001) to a map that is published
// right after. It returns false (nothing changed) if the pause would
// exceed MaxPause.
func (m *Migrator) tryCutover(ctx context.Context, mv *move, st *Stats) (bool, error) {
	tx, err := m.nodes[mv.src].Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, `SET LOCAL scalekit.shard_migrator = 'on'`); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, max(1, m.o.MaxPause.Milliseconds()))); err != nil {
		return false, err
	}
	var fence int64
	var owned bool
	err = tx.QueryRow(ctx, `SELECT fence, owned FROM `+m.owner+` WHERE unit = $1 FOR UPDATE`, mv.unit).Scan(&fence, &owned)
	if lockTimeout(err) {
		return false, nil // long writer transactions: try again
	}
	if err != nil {
		return false, err
	}
	if fence > mv.tok {
		return false, ErrFenced
	}
	if !owned {
		return false, fmt.Errorf("source %s no longer owns shard %d", mv.src, mv.unit)
	}
	pauseStart := m.o.Clock.Now()
	m.hook("pause")
	for {
		n, err := m.drainOnce(ctx, tx, mv)
		if err != nil {
			return false, fmt.Errorf("paused catch-up: %w", err)
		}
		st.Changes += int64(n)
		if n == 0 {
			break
		}
		if m.o.Clock.Since(pauseStart) > m.o.MaxPause {
			return false, nil
		}
	}
	// Verify both sides at once: the pause is as short as the slower one.
	var dstSum string
	var dstErr error
	dstDone := make(chan struct{})
	go func() {
		defer close(dstDone)
		dstSum, dstErr = m.checksum(ctx, m.nodes[mv.dst], mv.unit)
	}()
	srcSum, err := m.checksum(ctx, tx, mv.unit)
	<-dstDone
	if err != nil {
		return false, err
	}
	if dstErr != nil {
		return false, dstErr
	}
	if srcSum != dstSum {
		return false, fmt.Errorf("shard %d: source %s target %s: %w", mv.unit, srcSum, dstSum, ErrVerify)
	}
	err = m.targetTx(ctx, mv, func(ttx pgx.Tx) error {
		_, err := ttx.Exec(ctx, `UPDATE `+m.owner+` SET owned = true, capturing = false, moved_to = NULL, fence = $2 WHERE unit = $1`, mv.unit, mv.tok)
		return err
	})
	if err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `UPDATE `+m.owner+` SET owned = false, capturing = false, moved_to = $2, fence = $3 WHERE unit = $1`, mv.unit, mv.dst, mv.tok); err != nil {
		return false, err
	}
	if err := m.setState(ctx, mv, "cutover"); err != nil {
		return false, err
	}
	m.hook("cutover")
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("commit source: %w", err)
	}
	m.hook("flip")
	err = m.publishWrites(ctx, mv)
	st.Pause = m.o.Clock.Since(pauseStart)
	return true, err
}

// publishWrites publishes the map with the unit's reads and writes on dst.
func (m *Migrator) publishWrites(ctx context.Context, mv *move) error {
	return m.publish(ctx, mv, "switched", func(cur *shard.Map) (*shard.Map, error) {
		if cur.NodeOf(mv.unit) == mv.dst && cur.ReadNodeOf(mv.unit) == mv.dst {
			return nil, nil
		}
		return cur.Repoint(map[int]string{mv.unit: mv.dst})
	})
}

// recoverCutover finishes a cut-over interrupted by a crash: if the source
// transaction committed (source disowned in favour of dst), the writes are
// published; otherwise it was rolled back and the cut-over is redone.
func (m *Migrator) recoverCutover(ctx context.Context, mv *move) error {
	var owned bool
	var movedTo *string
	if err := m.nodes[mv.src].QueryRow(ctx, `SELECT owned, moved_to FROM `+m.owner+` WHERE unit = $1`, mv.unit).Scan(&owned, &movedTo); err != nil {
		return err
	}
	if !owned && movedTo != nil && *movedTo == mv.dst {
		return m.publishWrites(ctx, mv)
	}
	return m.setState(ctx, mv, "reads_switched")
}

// cleanup deletes the moved rows and change log from the source, never on
// a node that owns the unit.
func (m *Migrator) cleanup(ctx context.Context, mv *move) error {
	src := m.nodes[mv.src]
	for _, t := range m.tables {
		for {
			var n int64
			err := pgx.BeginFunc(ctx, src, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL scalekit.shard_migrator = 'on'`); err != nil {
					return err
				}
				var fence int64
				var owned bool
				if err := tx.QueryRow(ctx, `SELECT fence, owned FROM `+m.owner+` WHERE unit = $1 FOR SHARE`, mv.unit).Scan(&fence, &owned); err != nil {
					return err
				}
				if fence > mv.tok {
					return ErrFenced
				}
				if owned {
					return fmt.Errorf("refusing to delete shard %d on %s: it owns it", mv.unit, mv.src)
				}
				ct, err := tx.Exec(ctx, `DELETE FROM `+t.q+` WHERE ctid IN (SELECT ctid FROM `+t.q+` WHERE `+t.shard+` = $1 LIMIT $2)`, mv.unit, m.o.BatchSize)
				n = ct.RowsAffected()
				return err
			})
			if err != nil {
				return fmt.Errorf("cleanup %s: %w", t.name, err)
			}
			if n == 0 {
				break
			}
		}
	}
	_, err := src.Exec(ctx, `DELETE FROM `+m.changes+` WHERE unit = $1`, mv.unit)
	return err
}

// WriterOptions configures NewWriter. Nil means defaults.
type WriterOptions struct {
	// MaxWait bounds how long a write waits for a moving shard's cut-over
	// before failing; 0 means 30s.
	MaxWait time.Duration
	// RetryEvery is the pause between attempts while waiting; 0 means 5ms.
	RetryEvery time.Duration
	// Prefix of the Migrator's tables; "" means "scalekit_shard".
	Prefix string
	// Clock measures MaxWait, RetryEvery and MaxLatency; nil means the
	// real clock.
	Clock clock.Clock
}

// Writer runs writes on the node that owns each key's logical shard. When
// a node answers that it no longer owns the shard (a move cut over), the
// Writer refreshes the router and retries, so writers wait through a
// cut-over instead of failing. Safe for concurrent use.
type Writer struct {
	router *shard.Router
	nodes  map[string]*pgxConnPool
	o      WriterOptions

	maxWaitSeen atomicDuration
	ownerSQL    string
}
