package etcdlock

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/scalekit-go/scalekit/lock/driver"
)

// Acquire joins key's queue and blocks until req.Owner holds the lock, in
// the order the waiters arrived (their create revisions). While it waits,
// the waiter's lease is kept alive in the background, so a waiter that dies
// leaves the queue when its lease expires. Each waiter watches only the
// member created just before its own: a release or expiry wakes exactly the
// next waiter, not all of them.
//
// When ctx ends first, Acquire deletes the waiter's member key and revokes
// its lease before returning ctx.Err(), so no waiter is left behind. Before
// returning a token it sends one more keep-alive, so the lease has its full
// TTL from a moment after the call began.
//
// Round trips: two when the lock is free (grant, join); otherwise four
// (grant, join, a check that it is our turn, a keep-alive) plus one read and
// one watch per predecessor that leaves.
func (d *Driver) Acquire(ctx context.Context, req driver.Request) (int64, error) {
	g, err := d.cli.Grant(ctx, ttlSeconds(req.TTL))
	if err != nil {
		return 0, d.cancelled(ctx, err)
	}
	lease := g.ID
	dir, me := d.dir(req.Key), d.member(req.Key, req.Owner)

	// Keep the lease alive while waiting; stopped before returning.
	kctx, stopKeepAlive := context.WithCancel(context.WithoutCancel(ctx))
	defer stopKeepAlive()

	resp, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(me), "=", 0)).
		Then(clientv3.OpPut(me, req.Meta, clientv3.WithLease(lease)), firstOp(dir)).
		Else(clientv3.OpGet(me), firstOp(dir)).
		Commit()
	if err != nil {
		d.revoke(ctx, lease)
		return 0, d.cancelled(ctx, err)
	}
	var rev int64
	first := rangeKVs(resp, 1)
	if resp.Succeeded {
		rev = resp.Header.Revision
	} else {
		// A retry by an owner that has already joined: keep its place.
		d.revoke(ctx, lease)
		mine := rangeKVs(resp, 0)
		if len(mine) != 1 {
			return 0, fmt.Errorf("etcdlock: member %q vanished", me)
		}
		rev, lease = mine[0].CreateRevision, clientv3.LeaseID(mine[0].Lease)
	}
	if resp.Succeeded && len(first) == 1 && first[0].CreateRevision == rev {
		// The lock was free: we hold it on a lease granted just now.
		return rev, nil
	}
	if len(first) == 0 || first[0].CreateRevision != rev {
		ka, err := d.cli.KeepAlive(kctx, lease)
		if err != nil {
			d.leave(ctx, me, lease)
			return 0, d.cancelled(ctx, err)
		}
		go func() {
			for range ka { // drain, or the client logs a full queue
			}
		}()
		if err := d.waitTurn(ctx, dir, rev); err != nil {
			d.leave(ctx, me, lease)
			return 0, d.cancelled(ctx, err)
		}
	}
	// Our turn, unless our own member vanished meanwhile (lease expired
	// or the key was deleted): check, then refresh the lease.
	if _, err := d.holderLease(ctx, req.Key, req.Owner); err != nil {
		d.leave(ctx, me, lease)
		return 0, d.cancelled(ctx, err)
	}
	stopKeepAlive()
	if _, err := d.cli.KeepAliveOnce(ctx, lease); err != nil {
		d.leave(ctx, me, lease)
		return 0, d.cancelled(ctx, leaseErr(err))
	}
	return rev, nil
}

// waitTurn blocks until no member of dir has a create revision below rev.
func (d *Driver) waitTurn(ctx context.Context, dir string, rev int64) error {
	for {
		resp, err := d.cli.Get(ctx, dir, append(clientv3.WithLastCreate(), clientv3.WithMaxCreateRev(rev-1))...)
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		if err := d.waitDelete(ctx, string(resp.Kvs[0].Key), resp.Header.Revision); err != nil {
			return err
		}
	}
}

// waitDelete blocks until key is deleted after revision rev, or until the
// watch ends for another reason (the caller then looks again).
func (d *Driver) waitDelete(ctx context.Context, key string, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := d.cli.Watch(wctx, key, clientv3.WithRev(rev+1), clientv3.WithFilterPut())
	for wr := range wch {
		if err := wr.Err(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil // compacted or cancelled by the server: look again
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.DELETE {
				return nil
			}
		}
	}
	return ctx.Err() // nil: the watch closed; look again
}

// leave removes a waiter's member key and lease, best effort, even if ctx
// has ended.
func (d *Driver) leave(ctx context.Context, me string, lease clientv3.LeaseID) {
	if d.cli.Ctx().Err() != nil {
		return // the client is closed; the lease expires on its own
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = d.cli.Delete(rctx, me)
	_, _ = d.cli.Revoke(rctx, lease)
}

// cancelled returns ctx.Err() unwrapped when ctx has ended, else err.
func (d *Driver) cancelled(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}
