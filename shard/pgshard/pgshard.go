package pgshard

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/shard/driver"
)

// Options configures Open. Nil means defaults.
type Options struct {
	// Prefix of the tables and of the notification channel; "" means
	// "scalekit_shard". It must be a plain SQL identifier.
	Prefix string
}

// Driver implements driver.MapStore and driver.Directory on PostgreSQL.
// Safe for concurrent use.
type Driver struct {
	pool    *pgxpool.Pool
	maps    string
	dir     string
	channel string
}

var (
	_ driver.MapStore  = (*Driver)(nil)
	_ driver.Directory = (*Driver)(nil)
)

var ident = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,40}$`)

// Open returns a driver on pool and creates its tables if needed, under an
// advisory lock so that any number of processes may start at once.
func Open(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Driver, error) {
	if pool == nil {
		return nil, errors.New("pgshard.Open: nil pool")
	}
	prefix := "scalekit_shard"
	if opts != nil && opts.Prefix != "" {
		prefix = opts.Prefix
	}
	if !ident.MatchString(prefix) {
		return nil, fmt.Errorf("pgshard.Open: prefix %q is not a plain identifier", prefix)
	}
	d := &Driver{pool: pool, maps: prefix + "_map", dir: prefix + "_directory", channel: prefix + "_map"}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, prefix); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS `+d.maps+` (
	name    text PRIMARY KEY,
	version bigint NOT NULL,
	nodes   text[] NOT NULL,
	read_nodes text[]
);
ALTER TABLE `+d.maps+` ADD COLUMN IF NOT EXISTS read_nodes text[];
CREATE TABLE IF NOT EXISTS `+d.dir+` (
	name    text NOT NULL,
	key     text NOT NULL,
	node    text NOT NULL,
	version bigint NOT NULL,
	PRIMARY KEY (name, key)
)`)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("pgshard.Open: create schema: %w", err)
	}
	return d, nil
}

// Load implements driver.MapStore.
func (d *Driver) Load(ctx context.Context, name string) (driver.Table, error) {
	var t driver.Table
	err := d.pool.QueryRow(ctx, `SELECT version, nodes, read_nodes FROM `+d.maps+` WHERE name = $1`, name).Scan(&t.Version, &t.Nodes, &t.ReadNodes)
	if errors.Is(err, pgx.ErrNoRows) {
		return driver.Table{}, nil
	}
	return t, err
}

// CompareAndSwap implements driver.MapStore; the change and its
// notification commit together.
func (d *Driver) CompareAndSwap(ctx context.Context, name string, old int64, t driver.Table) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return d.CompareAndSwapTx(ctx, tx, name, old, t) })
}

// CompareAndSwapTx is CompareAndSwap inside the caller's transaction on
// the control database, so that a map change commits atomically with
// other bookkeeping (the migration executor's state).
func (d *Driver) CompareAndSwapTx(ctx context.Context, tx pgx.Tx, name string, old int64, t driver.Table) error {
	var tag int64
	if old == 0 {
		ct, err := tx.Exec(ctx, `INSERT INTO `+d.maps+` (name, version, nodes, read_nodes) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING`, name, t.Version, t.Nodes, t.ReadNodes)
		if err != nil {
			return err
		}
		tag = ct.RowsAffected()
	} else {
		ct, err := tx.Exec(ctx, `UPDATE `+d.maps+` SET version = $3, nodes = $4, read_nodes = $5 WHERE name = $1 AND version = $2`, name, old, t.Version, t.Nodes, t.ReadNodes)
		if err != nil {
			return err
		}
		tag = ct.RowsAffected()
	}
	if tag != 1 {
		return driver.ErrConflict
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, d.channel, name)
	return err
}

// Watch implements driver.MapStore with LISTEN on a connection taken out
// of the pool for the watch's lifetime. The channel closes if that
// connection fails; notifications sent while it is down are lost, which is
// why shard.Router also polls.
func (d *Driver) Watch(ctx context.Context, name string) (<-chan struct{}, func(), error) {
	pc, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	conn := pc.Hijack() // never returned to the pool while listening
	if _, err := conn.Exec(ctx, `LISTEN `+d.channel); err != nil {
		_ = conn.Close(context.Background())
		return nil, nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		defer conn.Close(context.Background())
		for {
			n, err := conn.WaitForNotification(wctx)
			if err != nil {
				return
			}
			if n.Payload == name {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	var once sync.Once
	return ch, func() { once.Do(func() { cancel(); <-done }) }, nil
}

// Get implements driver.Directory.
func (d *Driver) Get(ctx context.Context, name, key string) (driver.Entry, bool, error) {
	var e driver.Entry
	err := d.pool.QueryRow(ctx, `SELECT node, version FROM `+d.dir+` WHERE name = $1 AND key = $2`, name, key).Scan(&e.Node, &e.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return driver.Entry{}, false, nil
	}
	return e, err == nil, err
}

// Put implements driver.Directory.
func (d *Driver) Put(ctx context.Context, name, key, node string, expect int64) (int64, error) {
	var q string
	args := []any{name, key, node}
	switch {
	case expect < 0:
		q = `INSERT INTO ` + d.dir + ` AS t (name, key, node, version) VALUES ($1, $2, $3, 1)
ON CONFLICT (name, key) DO UPDATE SET node = excluded.node, version = t.version + 1 RETURNING version`
	case expect == 0:
		q = `INSERT INTO ` + d.dir + ` (name, key, node, version) VALUES ($1, $2, $3, 1)
ON CONFLICT (name, key) DO NOTHING RETURNING version`
	default:
		q = `UPDATE ` + d.dir + ` SET node = $3, version = version + 1 WHERE name = $1 AND key = $2 AND version = $4 RETURNING version`
		args = append(args, expect)
	}
	var v int64
	err := d.pool.QueryRow(ctx, q, args...).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, driver.ErrConflict
	}
	return v, err
}

// Delete implements driver.Directory.
func (d *Driver) Delete(ctx context.Context, name, key string, expect int64) error {
	if expect < 0 {
		_, err := d.pool.Exec(ctx, `DELETE FROM `+d.dir+` WHERE name = $1 AND key = $2`, name, key)
		return err
	}
	ct, err := d.pool.Exec(ctx, `DELETE FROM `+d.dir+` WHERE name = $1 AND key = $2 AND version = $3`, name, key, expect)
	if err != nil {
		return err
	}
	if ct.RowsAffected() != 1 {
		return driver.ErrConflict
	}
	return nil
}
