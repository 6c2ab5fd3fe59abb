package pgshard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/driver"
)

// MigratorOptions configures NewMigrator. Nil means defaults.
type MigratorOptions struct {
	// ShardColumn is the integer column of every migrated table that
	// holds the row's logical shard; "" means "lshard".
	ShardColumn string
	// BatchSize is the number of rows per copy batch and of change-log
	// entries per catch-up round; 0 means 500.
	BatchSize int
	// MaxPause bounds the write pause of a cut-over: if the final
	// catch-up takes longer, the cut-over is abandoned (writers resume on
	// the source) and tried again; 0 means 2s.
	MaxPause time.Duration
	// LeaseTTL is the TTL of the move's lock lease; 0 means 5s.
	LeaseTTL time.Duration
	// Prefix of the control and node tables; "" means "scalekit_shard".
	Prefix string
	// Hook, when set, is called at each step boundary with the step name
	// ("lease", "capture", "copy", "catchup", "reads", "pause",
	// "cutover", "flip", "cleanup"). Tests use it to crash the executor
	// at every step.
	Hook func(step string)
	// Clock measures pauses; nil means real time.
	Clock clock.Clock
	// Name is the scalekit.name metric attribute; "" means "pgshard".
	Name string
	// MeterProvider for metrics; nil means the global provider.
	MeterProvider metric.MeterProvider
}

// Migrator moves logical shards between PostgreSQL nodes online: per moved
// shard it takes a lock lease, captures writes with a trigger, copies rows
// in batches, catches up from the change log, switches reads, then — with
// writes to the shard paused for at most MaxPause — catches up the rest,
// verifies row counts and checksums, and switches writes; the source rows
// are deleted only after the new map is committed. Every step is recorded
// in a control table and is idempotent, so Move resumes a crashed move
// where it stopped, and the lease's fencing token stops a stale executor.
//
// Between the switch of reads and the cut-over of writes (normally
// milliseconds), reads of the moving shard are served by the target, which
// may lag the source by the changes not yet caught up.
type Migrator struct {
	ctl     *Driver
	mapName string
	nodes   map[string]*pgxpool.Pool
	locker  *lock.Locker
	names   []string
	tables  []*tableInfo
	o       MigratorOptions
	metrics *shard.Metrics

	owner, changes, moves string
}

// Stats describes one Move.
type Stats struct {
	Unit         int
	From, To     string
	RowsCopied   int64
	Changes      int64 // change-log entries applied
	Pause        time.Duration
	Duration     time.Duration
	AlreadyThere bool
}

// NewMigrator returns an executor for the map mapName stored in ctl, over
// nodes (name → pool) and the given tables. It does no I/O; call Install.
func NewMigrator(ctl *Driver, mapName string, nodes map[string]*pgxpool.Pool, locker *lock.Locker, tables []string, opts *MigratorOptions) (*Migrator, error) {
	if ctl == nil || locker == nil || mapName == "" || len(nodes) == 0 || len(tables) == 0 {
		return nil, fmt.Errorf("pgshard.NewMigrator: missing control driver, locker, map name, nodes or tables: %w", shard.ErrBadArgument)
	}
	m := &Migrator{ctl: ctl, mapName: mapName, nodes: nodes, locker: locker, names: tables}
	if opts != nil {
		m.o = *opts
	}
	if m.o.BatchSize < 0 || m.o.MaxPause < 0 || m.o.LeaseTTL < 0 {
		return nil, fmt.Errorf("pgshard.NewMigrator: negative option: %w", shard.ErrBadArgument)
	}
	if m.o.ShardColumn == "" {
		m.o.ShardColumn = "lshard"
	}
	if m.o.BatchSize == 0 {
		m.o.BatchSize = 500
	}
	if m.o.MaxPause == 0 {
		m.o.MaxPause = 2 * time.Second
	}
	if m.o.LeaseTTL == 0 {
		m.o.LeaseTTL = 5 * time.Second
	}
	if m.o.Prefix == "" {
		m.o.Prefix = "scalekit_shard"
	}
	if !ident.MatchString(m.o.Prefix) {
		return nil, fmt.Errorf("pgshard.NewMigrator: prefix %q: %w", m.o.Prefix, shard.ErrBadArgument)
	}
	if m.o.Name == "" {
		m.o.Name = "pgshard"
	}
	m.o.Clock = clock.Or(m.o.Clock)
	m.metrics = shard.MetricsFor(m.o.MeterProvider)
	m.owner, m.changes, m.moves = quote(m.o.Prefix+"_owner"), quote(m.o.Prefix+"_changes"), quote(m.o.Prefix+"_moves")
	for n, p := range nodes {
		if p == nil || n == "" {
			return nil, fmt.Errorf("pgshard.NewMigrator: node %q: %w", n, shard.ErrBadArgument)
		}
	}
	return m, nil
}

func (m *Migrator) hook(step string) {
	if m.o.Hook != nil {
		m.o.Hook(step)
	}
}

// Install creates the control table, and on every node the ownership
// table, the change log and the guard trigger on each table, then marks
// each node as the owner of the logical shards the stored map gives it.
// Tables without a primary key are refused (ErrNoPrimaryKey). It is safe to
// run from several processes at once and to run again.
func (m *Migrator) Install(ctx context.Context) error {
	if _, err := m.ctl.pool.Exec(ctx, controlSchema(m.o.Prefix)); err != nil {
		return fmt.Errorf("pgshard.Install: control schema: %w", err)
	}
	tb, err := m.ctl.Load(ctx, m.mapName)
	if err != nil {
		return fmt.Errorf("pgshard.Install: load map: %w", err)
	}
	if tb.Version == 0 {
		return fmt.Errorf("pgshard.Install: map %q not published yet: %w", m.mapName, shard.ErrBadArgument)
	}
	m.tables = nil
	for node, p := range m.nodes {
		var infos []*tableInfo
		for _, name := range m.names {
			ti, err := describe(ctx, p, name, m.o.ShardColumn)
			if err != nil {
				return fmt.Errorf("pgshard.Install: node %s: %w", node, err)
			}
			infos = append(infos, ti)
		}
		if m.tables == nil {
			m.tables = infos
		}
		err := pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, m.o.Prefix+"_install"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, nodeSchema(m.o.Prefix)); err != nil {
				return err
			}
			for _, ti := range infos {
				// CREATE TRIGGER locks the table against writers:
				// only when the trigger is missing.
				var has bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2)`, ti.q, m.o.Prefix+"_guard").Scan(&has); err != nil {
					return err
				}
				if has {
					continue
				}
				if _, err := tx.Exec(ctx, triggerDDL(m.o.Prefix, ti, m.o.ShardColumn)); err != nil {
					return err
				}
			}
			for l, owner := range tb.Nodes {
				if owner == node {
					if _, err := tx.Exec(ctx, `INSERT INTO `+m.owner+` (unit, owned) VALUES ($1, true) ON CONFLICT (unit) DO NOTHING`, l); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("pgshard.Install: node %s: %w", node, err)
		}
	}
	return nil
}

// describe reads the tables' keys and columns from one node (no DDL, no
// locks), once.
func (m *Migrator) describe(ctx context.Context) error {
	if m.tables != nil {
		return nil
	}
	var p *pgxpool.Pool
	for _, p = range m.nodes {
		break
	}
	var infos []*tableInfo
	for _, name := range m.names {
		ti, err := describe(ctx, p, name, m.o.ShardColumn)
		if err != nil {
			return fmt.Errorf("pgshard.Move: %w", err)
		}
		infos = append(infos, ti)
	}
	m.tables = infos
	return nil
}

// move is the persistent record of one move.
type move struct {
	unit     int
	src, dst string
	state    string
	tok      int64
}

// setState advances the move's state if no newer executor has fenced it.
func (m *Migrator) setState(ctx context.Context, mv *move, state string) error {
	ct, err := m.ctl.pool.Exec(ctx, `UPDATE `+m.moves+` SET state = $3, fence = $4 WHERE map_name = $1 AND unit = $2 AND fence <= $4`, m.mapName, mv.unit, state, mv.tok)
	if err != nil {
		return err
	}
	if ct.RowsAffected() != 1 {
		return ErrFenced
	}
	mv.state = state
	return nil
}

// Move moves logical shard unit to node dst, or resumes the unfinished
// move of unit. It returns when the move is committed and the source
// cleaned up.
func (m *Migrator) Move(ctx context.Context, unit int, dst string) (st Stats, err error) {
	ctx, span := shard.StartSpan(ctx, "pgshard", "Migrator.Move", m.o.Name,
		attribute.Int("scalekit.shard.logical", unit), attribute.String("scalekit.shard.id", dst),
		attribute.String("db.system.name", "postgresql"))
	defer func() { shard.EndSpan(span, err) }()
	start := m.o.Clock.Now()
	st = Stats{Unit: unit, To: dst}
	if err := m.describe(ctx); err != nil {
		return st, err
	}
	if _, ok := m.nodes[dst]; !ok {
		return st, fmt.Errorf("pgshard.Move: unknown node %q: %w", dst, shard.ErrBadArgument)
	}
	lease, err := m.locker.Acquire(ctx, fmt.Sprintf("%s:move:%s:%d", m.o.Prefix, m.mapName, unit), &lock.AcquireOptions{TTL: m.o.LeaseTTL})
	if err != nil {
		return st, fmt.Errorf("pgshard.Move %d: lease: %w", unit, err)
	}
	defer func() { _ = lease.Release(context.Background()) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lease.Done(): // lease lost: stop every step at once
			cancel()
		case <-ctx.Done():
		}
	}()
	m.hook("lease")
	mv, err := m.begin(ctx, unit, dst, lease.Token())
	if err != nil {
		return st, err
	}
	st.From = mv.src
	if mv.state == "done" {
		st.AlreadyThere = true
		return st, nil
	}
	if err := m.run(ctx, mv, &st); err != nil {
		if lease.Err() != nil {
			return st, fmt.Errorf("pgshard.Move %d: lease lost (%v): %w", unit, lease.Err(), ErrFenced)
		}
		return st, fmt.Errorf("pgshard.Move %d %s→%s at %s: %w", unit, mv.src, dst, mv.state, err)
	}
	st.Duration = m.o.Clock.Since(start)
	m.metrics.Migration(ctx, m.o.Name, dst)
	return st, nil
}

// ApplyPlan runs Move for every move of plan, in order, and returns the
// stats of the moves done; it stops at the first error (run it again to
// resume: finished moves are skipped).
func (m *Migrator) ApplyPlan(ctx context.Context, plan shard.Plan) ([]Stats, error) {
	var out []Stats
	for _, mv := range plan.Moves {
		st, err := m.Move(ctx, mv.Logical, mv.To)
		if err != nil {
			return out, err
		}
		out = append(out, st)
	}
	return out, nil
}

// begin loads or creates the move record and fences older executors.
func (m *Migrator) begin(ctx context.Context, unit int, dst string, tok int64) (*move, error) {
	tb, err := m.ctl.Load(ctx, m.mapName)
	if err != nil {
		return nil, err
	}
	cur, err := shard.FromTable(tb)
	if err != nil {
		return nil, err
	}
	if unit < 0 || unit >= cur.Logical() {
		return nil, fmt.Errorf("pgshard.Move: logical shard %d of %d: %w", unit, cur.Logical(), shard.ErrBadArgument)
	}
	mv := &move{unit: unit, tok: tok}
	err = m.ctl.pool.QueryRow(ctx, `SELECT src, dst, state FROM `+m.moves+` WHERE map_name = $1 AND unit = $2`, m.mapName, unit).Scan(&mv.src, &mv.dst, &mv.state)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && mv.state == "done"):
		mv.src, mv.dst = cur.NodeOf(unit), dst
		if mv.src == dst {
			return &move{unit: unit, src: dst, dst: dst, state: "done"}, nil
		}
		if _, ok := m.nodes[mv.src]; !ok {
			return nil, fmt.Errorf("pgshard.Move: source node %q has no pool: %w", mv.src, shard.ErrBadArgument)
		}
		_, err = m.ctl.pool.Exec(ctx, `INSERT INTO `+m.moves+` (map_name, unit, src, dst, state, fence) VALUES ($1, $2, $3, $4, 'capture', $5)
ON CONFLICT (map_name, unit) DO UPDATE SET src = $3, dst = $4, state = 'capture', fence = $5 WHERE `+m.moves+`.state = 'done' AND `+m.moves+`.fence <= $5`,
			m.mapName, unit, mv.src, dst, tok)
		if err != nil {
			return nil, err
		}
		mv.state = "capture"
	case err != nil:
		return nil, err
	case mv.dst != dst:
		return nil, fmt.Errorf("pgshard.Move %d: unfinished move to %s: %w", unit, mv.dst, ErrMoveInProgress)
	}
	if err := m.setState(ctx, mv, mv.state); err != nil { // fence older executors
		return nil, err
	}
	// Fence the nodes too: older executors' data writes now fail.
	for _, n := range []string{mv.src, mv.dst} {
		if _, err := m.nodes[n].Exec(ctx, `INSERT INTO `+m.owner+` (unit, owned, fence) VALUES ($1, false, $2)
ON CONFLICT (unit) DO UPDATE SET fence = $2 WHERE `+m.owner+`.fence <= $2`, unit, tok); err != nil {
			return nil, err
		}
	}
	return mv, nil
}

func (m *Migrator) run(ctx context.Context, mv *move, st *Stats) error {
	for {
		var err error
		switch mv.state {
		case "capture":
			err = m.startCapture(ctx, mv)
			if err == nil {
				m.hook("capture")
				err = m.setState(ctx, mv, "copy")
			}
		case "copy":
			var n int64
			n, err = m.copyAll(ctx, mv)
			st.RowsCopied += n
			if err == nil {
				err = m.setState(ctx, mv, "catchup")
			}
		case "catchup":
			err = m.catchUpOutside(ctx, mv, st)
			if err == nil {
				m.hook("catchup")
				err = m.setState(ctx, mv, "reads")
			}
		case "reads":
			err = m.switchReads(ctx, mv)
			if err == nil {
				m.hook("reads")
			}
		case "reads_switched":
			err = m.cutover(ctx, mv, st)
		case "cutover":
			err = m.recoverCutover(ctx, mv)
		case "switched":
			err = m.cleanup(ctx, mv)
			if err == nil {
				m.hook("cleanup")
				err = m.setState(ctx, mv, "done")
			}
		case "done":
			return nil
		case "rollback":
			return fmt.Errorf("a rollback of this move is unfinished; call Rollback: %w", ErrMoveInProgress)
		default:
			return fmt.Errorf("unknown state %q", mv.state)
		}
		if err != nil {
			return err
		}
	}
}

// startCapture turns on the change log for the unit at the source. The
// UPDATE waits for writers holding the ownership row FOR SHARE, so every
// write that commits after it is logged.
func (m *Migrator) startCapture(ctx context.Context, mv *move) error {
	ct, err := m.nodes[mv.src].Exec(ctx, `UPDATE `+m.owner+` SET capturing = true, fence = $2 WHERE unit = $1 AND fence <= $2 AND owned`, mv.unit, mv.tok)
	if err != nil {
		return err
	}
	if ct.RowsAffected() != 1 {
		return fmt.Errorf("source %s does not own shard %d or is fenced: %w", mv.src, mv.unit, ErrFenced)
	}
	return nil
}

// switchReads publishes the map with the unit's reads on dst, atomically
// with the move's state.
func (m *Migrator) switchReads(ctx context.Context, mv *move) error {
	return m.publish(ctx, mv, "reads_switched", func(cur *shard.Map) (*shard.Map, error) {
		if cur.ReadNodeOf(mv.unit) == mv.dst {
			return nil, nil
		}
		return cur.SwitchReads(mv.unit, mv.dst)
	})
}

// publish runs next on the stored map and stores its result (if any) in
// the same control transaction as the move's new state, fenced.
func (m *Migrator) publish(ctx context.Context, mv *move, state string, next func(*shard.Map) (*shard.Map, error)) error {
	err := pgx.BeginFunc(ctx, m.ctl.pool, func(tx pgx.Tx) error {
		ct, err := tx.Exec(ctx, `UPDATE `+m.moves+` SET state = $3, fence = $4 WHERE map_name = $1 AND unit = $2 AND fence <= $4`, m.mapName, mv.unit, state, mv.tok)
		if err != nil {
			return err
		}
		if ct.RowsAffected() != 1 {
			return ErrFenced
		}
		var tb driver.Table
		if err := tx.QueryRow(ctx, `SELECT version, nodes, read_nodes FROM `+m.ctl.maps+` WHERE name = $1 FOR UPDATE`, m.mapName).Scan(&tb.Version, &tb.Nodes, &tb.ReadNodes); err != nil {
			return err
		}
		cur, err := shard.FromTable(tb)
		if err != nil {
			return err
		}
		nm, err := next(cur)
		if err != nil {
			return err
		}
		if nm != nil {
			if err := m.ctl.CompareAndSwapTx(ctx, tx, m.mapName, cur.Version(), nm.ToTable()); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		mv.state = state
	}
	return err
}
