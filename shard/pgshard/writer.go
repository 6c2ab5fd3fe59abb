package pgshard

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/shard"
)

type pgxConnPool = pgxpool.Pool

type atomicDuration struct{ v atomic.Int64 }

func (a *atomicDuration) raise(d time.Duration) {
	for {
		old := a.v.Load()
		if int64(d) <= old || a.v.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// NewWriter returns a writer routing through router over nodes.
func NewWriter(router *shard.Router, nodes map[string]*pgxpool.Pool, opts *WriterOptions) (*Writer, error) {
	if router == nil || len(nodes) == 0 {
		return nil, fmt.Errorf("pgshard.NewWriter: nil router or no nodes: %w", shard.ErrBadArgument)
	}
	w := &Writer{router: router, nodes: nodes}
	if opts != nil {
		w.o = *opts
	}
	if w.o.MaxWait <= 0 {
		w.o.MaxWait = 30 * time.Second
	}
	if w.o.RetryEvery <= 0 {
		w.o.RetryEvery = 5 * time.Millisecond
	}
	if w.o.Prefix == "" {
		w.o.Prefix = "scalekit_shard"
	}
	if !ident.MatchString(w.o.Prefix) {
		return nil, fmt.Errorf("pgshard.NewWriter: prefix %q: %w", w.o.Prefix, shard.ErrBadArgument)
	}
	w.ownerSQL = `SELECT owned FROM ` + quote(w.o.Prefix+"_owner") + ` WHERE unit = $1 FOR SHARE`
	return w, nil
}

func notOwned(err error) bool {
	var pe *pgconn.PgError
	return errors.Is(err, ErrNotOwned) || errors.As(err, &pe) && pe.Code == sqlStateNotOwned
}

// Exec runs fn in a transaction on the write node of key's logical shard
// (passed to fn, which must store it in the shard column of the rows it
// writes). The transaction first locks the shard's ownership row FOR SHARE
// and checks that the node owns the shard; if not (a stale map), it
// refreshes the router and retries, up to MaxWait. Writes that bypass the
// Writer are still fenced by the guard trigger, except UPDATE and DELETE
// statements that match no row on the wrong node.
func (w *Writer) Exec(ctx context.Context, key string, fn func(ctx context.Context, tx pgx.Tx, logical int) error) error {
	clk := clock.Or(w.o.Clock)
	start := clk.Now()
	for {
		l, node, err := w.router.Lookup(key)
		if err != nil {
			if err := w.router.Sync(ctx); err != nil {
				return err
			}
			l, node, err = w.router.Lookup(key)
			if err != nil {
				return err
			}
		}
		p, ok := w.nodes[node]
		if !ok {
			return fmt.Errorf("pgshard.Writer: no pool for node %q", node)
		}
		err = pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
			// Check ownership first, explicitly: the guard trigger only
			// fires on rows that exist, so an UPDATE or DELETE sent to a
			// node that gave the shard away (with a stale map) would
			// silently match nothing. FOR SHARE also makes this write
			// wait through a cut-over in progress.
			var owned bool
			if err := tx.QueryRow(ctx, w.ownerSQL, l).Scan(&owned); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if !owned {
				return ErrNotOwned
			}
			return fn(ctx, tx, l)
		})
		if err == nil {
			if waited := clk.Since(start); waited > 0 {
				w.maxWaitSeen.raise(waited)
			}
			return nil
		}
		if !notOwned(err) {
			return err
		}
		if clk.Since(start) > w.o.MaxWait {
			return fmt.Errorf("pgshard.Writer %q: shard %d still moving after %v: %w", key, l, w.o.MaxWait, ErrNotOwned)
		}
		_ = w.router.Sync(ctx)
		if err := clock.Sleep(ctx, clk, w.o.RetryEvery); err != nil {
			return err
		}
	}
}

// MaxLatency returns the longest time a successful Exec took, including
// waits through cut-overs (the longest write pause seen by this writer).
func (w *Writer) MaxLatency() time.Duration { return time.Duration(w.maxWaitSeen.v.Load()) }
