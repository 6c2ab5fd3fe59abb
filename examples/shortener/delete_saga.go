package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/scalekit-go/scalekit/saga"
)

// deleteData is the delete saga's data, recorded in the saga log: the link
// as it was when the delete was asked for, so that the compensation can
// put it back.
type deleteData struct {
	Link Link `json:"link"`
}

// errChanged is the unlink step's failure when the link was edited between
// the request's read and the delete.
var errChanged = errors.New("shortener: link changed during delete")

// deleter runs "delete a link and its stats" as a saga across the link's
// shard store, every node's cache and the stats store:
//
//  1. unlink — delete the link from its shard store (only if it is still
//     the version read by the request) and invalidate it in every node's
//     cache; redirects stop here. Compensation: put the recorded link back
//     (if its code is still free) and invalidate the caches again, so
//     negative cache entries do not hide it.
//  2. stats — delete the link's analytics. Retried (3 attempts, backoff);
//     nothing to compensate: deleted counts cannot be restored, and a
//     failed attempt deleted nothing (one transaction).
//
// So a delete either removes both or — when the stats store keeps failing
// — restores the link and answers 503: never a half-deleted link.
// Each node has its own orchestrator over the shared saga log (memsaga,
// or pgsaga with -postgres) and lock backend; RunRecovery in every node
// finishes sagas whose node died mid-way.
type deleter struct {
	n    *node
	orch *saga.Orchestrator
	saga *saga.Saga[deleteData]
	stop context.CancelFunc
	done chan struct{}

	completed, compensated, stuck, alerts counter
}

func newDeleter(n *node) (*deleter, error) {
	d := &deleter{n: n}
	orch, err := saga.New(n.be.sagaLog, n.be.sagaLock, &saga.Options{
		Name:       fmt.Sprintf("shortener-delete-%d", n.id),
		LockPrefix: n.cfg.Prefix + ":saga/",
		OnAlert: func(a saga.Alert) {
			d.alerts.Add(1)
			n.cfg.Logger.Warn("delete saga alert", "kind", a.Kind, "saga", a.SagaID, "step", a.Step,
				"attempt", a.Attempt, "err", a.Err)
		},
	})
	if err != nil {
		return nil, err
	}
	d.orch = orch
	retry := saga.Retry{MaxAttempts: 3, Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	d.saga, err = saga.Register(orch, "delete-link", []saga.Step[deleteData]{
		{Name: "unlink", Action: d.unlink, Compensate: d.restore, Timeout: 5 * time.Second, Retry: retry,
			CompensateRetry: saga.Retry{MaxAttempts: 10, Initial: 20 * time.Millisecond, Max: time.Second}},
		{Name: "stats", Action: d.deleteStats, Timeout: 5 * time.Second, Retry: retry},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.stop, d.done = cancel, make(chan struct{})
	go func() {
		defer close(d.done)
		_ = orch.RunRecovery(ctx, 5*time.Second)
	}()
	return d, nil
}

// Close stops the recovery loop.
func (d *deleter) Close() {
	d.stop()
	<-d.done
}

// sagaID names the saga of deleting one version of one link; the
// creation time keeps a re-created code's delete distinct in a durable log.
func sagaID(l Link) string {
	return "delete-link/" + l.Code + "/" + strconv.FormatInt(l.CreatedAt.UnixNano(), 36) + "/v" + strconv.FormatInt(l.Version, 10)
}

// Delete runs the saga for l (as read by the request). It returns nil when
// the link and its stats are gone, an error wrapping saga.ErrCompensated
// when the link was restored, or errChanged. The saga id is derived from
// the link's version, so concurrent deletes of one version share one saga;
// a delete retried after a compensated one is a new saga (id suffix /rN).
func (d *deleter) Delete(ctx context.Context, l Link) error {
	base := sagaID(l)
	for try := 1; ; try++ {
		id := base
		if try > 1 {
			id += "/r" + strconv.Itoa(try)
		}
		err := d.saga.Run(ctx, id, deleteData{Link: l})
		switch {
		case err == nil:
			d.completed.Add(1)
		case errors.Is(err, saga.ErrExists):
			// The same delete is running or ran (a concurrent or retried request).
			st, serr := d.orch.Status(ctx, id)
			if serr == nil && st.State == saga.Completed {
				return nil
			}
			if serr == nil && st.State == saga.Compensated && try < 10 {
				continue
			}
			return fmt.Errorf("a delete of this link is in progress: %w", err)
		case errors.Is(err, saga.ErrCompensated):
			d.compensated.Add(1)
			if errors.Is(err, errChanged) {
				return errChanged
			}
		case errors.Is(err, saga.ErrStuck):
			d.stuck.Add(1)
		}
		return err
	}
}

// unlink deletes the link from its shard store and every node's cache.
func (d *deleter) unlink(ctx context.Context, c saga.Call, data deleteData) error {
	code := data.Link.Code
	cur, err := d.n.be.store.Get(ctx, code)
	switch {
	case errors.Is(err, ErrNotFound):
		// Gone already (an earlier attempt of ours, or another delete).
	case err != nil:
		return err
	case cur.Version != data.Link.Version || !cur.CreatedAt.Equal(data.Link.CreatedAt):
		return saga.Permanent(errChanged)
	default:
		if err := d.n.be.store.Delete(ctx, code); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return d.n.links.Delete(ctx, code) // broadcast to every node's L1
}

// restore puts the recorded link back if its code is free, and drops
// every node's cached (negative) entry.
func (d *deleter) restore(ctx context.Context, c saga.Call, data deleteData) error {
	err := d.n.be.store.Create(ctx, data.Link)
	if err != nil && !errors.Is(err, ErrExists) {
		return err
	}
	return d.n.links.Delete(ctx, data.Link.Code)
}

// deleteStats forgets the link's analytics.
func (d *deleter) deleteStats(ctx context.Context, c saga.Call, data deleteData) error {
	if f := d.n.cfg.FailStatsDelete; f != nil {
		if err := f(data.Link.Code, c.Attempt); err != nil {
			return err
		}
	}
	return d.n.be.stats.Delete(ctx, data.Link.Code)
}

// debug is the saga part of /debug/scalekit.
func (d *deleter) debug(ctx context.Context) map[string]any {
	out := map[string]any{"saga": "delete-link", "steps": []string{"unlink", "stats"},
		"completed": d.completed.Load(), "compensated": d.compensated.Load(), "stuck": d.stuck.Load(),
		"alerts": d.alerts.Load()}
	if st, err := d.orch.ListStuck(ctx, time.Minute); err == nil {
		out["stuck_in_log"] = len(st)
	}
	return out
}
