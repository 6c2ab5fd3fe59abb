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
	return w, nil
}

func notOwned(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == sqlStateNotOwned
}

// Exec runs fn in a transaction on the write node of key's logical shard
// (passed to fn, which must store it in the shard column of the rows it
// writes). It retries while the shard is being cut over, up to MaxWait.
func (w *Writer) Exec(ctx context.Context, key string, fn func(ctx context.Context, tx pgx.Tx, logical int) error) error {
	start := time.Now()
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
		err = pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error { return fn(ctx, tx, l) })
		if err == nil {
			if waited := time.Since(start); waited > 0 {
				w.maxWaitSeen.raise(waited)
			}
			return nil
		}
		if !notOwned(err) {
			return err
		}
		if time.Since(start) > w.o.MaxWait {
			return fmt.Errorf("pgshard.Writer %q: shard %d still moving after %v: %w", key, l, w.o.MaxWait, ErrNotOwned)
		}
		_ = w.router.Sync(ctx)
		t := time.NewTimer(w.o.RetryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// MaxLatency returns the longest time a successful Exec took, including
// waits through cut-overs (the longest write pause seen by this writer).
func (w *Writer) MaxLatency() time.Duration { return time.Duration(w.maxWaitSeen.v.Load()) }
