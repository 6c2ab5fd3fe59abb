package etcdlock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scalekit-go/scalekit/lock/driver"
)

// DefaultPrefix is the etcd key prefix used when Options.Prefix is empty.
const DefaultPrefix = "scalekit/lock/"

// MaxKeyLen is the longest lock key, in bytes, the driver accepts.
const MaxKeyLen = 4096

// MinTTL is the shortest lease the driver accepts. etcd leases have
// whole-second granularity: a TTL is rounded up to whole seconds, and the
// server raises it further to its own minimum (1.5 × the election timeout,
// 2 s with default settings). The engine therefore frees a lost lock later
// than package lock assumes, never earlier.
const MinTTL = time.Second

// cleanupTimeout bounds the best-effort calls that undo a failed or
// cancelled acquisition.
const cleanupTimeout = 5 * time.Second

// Options configures a Driver. A nil *Options means the defaults.
type Options struct {
	// Prefix is prepended to every etcd key the driver writes (default
	// DefaultPrefix). Lockers that must exclude each other use the same
	// prefix.
	Prefix string
}

// Driver is a lock driver on etcd. A lock key k is the etcd directory
// <prefix><escaped k>/, and every acquisition puts one member key
// <prefix><escaped k>/<escaped owner> in it, attached to an etcd lease of
// its own. The member with the lowest create revision holds the lock; its
// create revision is the fencing token, strictly increasing because etcd's
// revision counter never goes back, across restarts included.
//
// It implements driver.Locker, driver.Queuer (a FIFO queue: each waiter
// watches only the member created just before its own, so a release wakes
// exactly one waiter), driver.Limited and driver.Retryable. A Driver is safe
// for concurrent use; it keeps no state besides the client, so several
// processes may share the locks.
type Driver struct {
	cli    *clientv3.Client
	prefix string
}

var (
	_ driver.Locker    = (*Driver)(nil)
	_ driver.Queuer    = (*Driver)(nil)
	_ driver.Limited   = (*Driver)(nil)
	_ driver.Retryable = (*Driver)(nil)
)

// New returns a Driver on cli. It does no I/O.
func New(cli *clientv3.Client, opts *Options) (*Driver, error) {
	if cli == nil {
		return nil, errors.New("etcdlock: nil etcd client")
	}
	prefix := DefaultPrefix
	if opts != nil && opts.Prefix != "" {
		prefix = opts.Prefix
	}
	return &Driver{cli: cli, prefix: prefix}, nil
}

// Limits reports MaxKeyLen and MinTTL.
func (d *Driver) Limits() driver.Limits {
	return driver.Limits{MaxKeyLen: MaxKeyLen, MinTTL: MinTTL}
}

// escaper makes a key safe as one path segment, so that lock "a" and lock
// "a/b" never share a directory.
var (
	escaper   = strings.NewReplacer("%", "%25", "/", "%2F")
	unescaper = strings.NewReplacer("%25", "%", "%2F", "/")
)

func (d *Driver) dir(key string) string { return d.prefix + escaper.Replace(key) + "/" }

// Dir returns the etcd key prefix under which key's holder and waiters
// live, one etcd key per member, for inspection (etcdctl get --prefix) or
// for an operator who must clear a lock by hand.
func (d *Driver) Dir(key string) string { return d.dir(key) }

func (d *Driver) member(key, owner string) string { return d.dir(key) + escaper.Replace(owner) }

func ownerOf(dir string, memberKey []byte) string {
	return unescaper.Replace(strings.TrimPrefix(string(memberKey), dir))
}

// ttlSeconds rounds ttl up to whole seconds.
func ttlSeconds(ttl time.Duration) int64 {
	s := int64((ttl + time.Second - 1) / time.Second)
	return max(s, 1)
}

// firstOp reads the member with the lowest create revision: the holder.
func firstOp(dir string) clientv3.Op { return clientv3.OpGet(dir, clientv3.WithFirstCreate()...) }

func rangeKVs(r *clientv3.TxnResponse, i int) []*mvccpb.KeyValue {
	if i >= len(r.Responses) {
		return nil
	}
	if rr := r.Responses[i].GetResponseRange(); rr != nil {
		return rr.Kvs
	}
	return nil
}

// TryAcquire grants a lease and, in one transaction, puts the member key if
// the directory is empty. Two round trips when the lock is free, three when
// it is held (the unused lease is revoked).
func (d *Driver) TryAcquire(ctx context.Context, req driver.Request) (int64, error) {
	g, err := d.cli.Grant(ctx, ttlSeconds(req.TTL))
	if err != nil {
		return 0, d.cancelled(ctx, err)
	}
	dir, me := d.dir(req.Key), d.member(req.Key, req.Owner)
	resp, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(dir), "=", 0).WithPrefix()).
		Then(clientv3.OpPut(me, req.Meta, clientv3.WithLease(g.ID))).
		Else(firstOp(dir)).
		Commit()
	if err != nil {
		d.revoke(ctx, g.ID)
		return 0, d.cancelled(ctx, err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	d.revoke(ctx, g.ID)
	kvs := rangeKVs(resp, 0)
	if len(kvs) == 1 && string(kvs[0].Key) == me {
		// A retry by the holder itself: keep its token, extend its lease.
		if _, err := d.cli.KeepAliveOnce(ctx, clientv3.LeaseID(kvs[0].Lease)); err != nil {
			return 0, d.cancelled(ctx, leaseErr(err))
		}
		return kvs[0].CreateRevision, nil
	}
	return 0, driver.ErrLocked
}

// Renew checks in one transaction that owner's member key exists and is the
// first of the directory, then sends one keep-alive for its lease. etcd
// extends the lease by the TTL granted at acquisition; ttl is not used. Two
// round trips.
func (d *Driver) Renew(ctx context.Context, key, owner string, _ time.Duration) error {
	lease, err := d.holderLease(ctx, key, owner)
	if err != nil {
		return d.cancelled(ctx, err)
	}
	if _, err := d.cli.KeepAliveOnce(ctx, lease); err != nil {
		return d.cancelled(ctx, leaseErr(err))
	}
	return nil
}

// holderLease returns the lease of owner's member key if owner holds key.
func (d *Driver) holderLease(ctx context.Context, key, owner string) (clientv3.LeaseID, error) {
	dir, me := d.dir(key), d.member(key, owner)
	resp, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(me), ">", 0)).
		Then(clientv3.OpGet(me), firstOp(dir)).
		Commit()
	if err != nil {
		return 0, err
	}
	if !resp.Succeeded {
		return 0, driver.ErrNotHeld
	}
	mine, first := rangeKVs(resp, 0), rangeKVs(resp, 1)
	if len(mine) != 1 || len(first) != 1 || first[0].CreateRevision != mine[0].CreateRevision {
		return 0, driver.ErrNotHeld
	}
	return clientv3.LeaseID(mine[0].Lease), nil
}

// Release deletes owner's member key in one transaction and then revokes
// its lease. It returns ErrNotHeld if owner has no member key, or if the key
// was only waiting in the queue (it is deleted all the same, so that an
// abandoned waiter leaves nothing behind). Two round trips.
func (d *Driver) Release(ctx context.Context, key, owner string) error {
	dir, me := d.dir(key), d.member(key, owner)
	resp, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(me), ">", 0)).
		Then(clientv3.OpGet(me), firstOp(dir), clientv3.OpDelete(me)).
		Commit()
	if err != nil {
		return d.cancelled(ctx, err)
	}
	if !resp.Succeeded {
		return driver.ErrNotHeld
	}
	mine, first := rangeKVs(resp, 0), rangeKVs(resp, 1)
	if len(mine) == 1 {
		d.revoke(ctx, clientv3.LeaseID(mine[0].Lease))
	}
	if len(mine) != 1 || len(first) != 1 || first[0].CreateRevision != mine[0].CreateRevision {
		return driver.ErrNotHeld
	}
	return nil
}

// Holder reads the first member of key's directory and the time left on
// its lease. Two round trips.
func (d *Driver) Holder(ctx context.Context, key string) (driver.Holder, bool, error) {
	dir := d.dir(key)
	resp, err := d.cli.Get(ctx, dir, clientv3.WithFirstCreate()...)
	if err != nil {
		return driver.Holder{}, false, d.cancelled(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return driver.Holder{}, false, nil
	}
	kv := resp.Kvs[0]
	h := driver.Holder{Owner: ownerOf(dir, kv.Key), Meta: string(kv.Value), Token: kv.CreateRevision}
	if kv.Lease != 0 {
		ttl, err := d.cli.TimeToLive(ctx, clientv3.LeaseID(kv.Lease))
		if err != nil {
			return driver.Holder{}, false, d.cancelled(ctx, err)
		}
		if ttl.TTL < 0 { // expired this instant; its keys are going
			return driver.Holder{}, false, nil
		}
		h.TTL = time.Duration(ttl.TTL) * time.Second
	}
	return h, true, nil
}

// revoke revokes a lease, best effort, even if ctx has ended: a lease left
// behind only delays the next holder until it expires.
func (d *Driver) revoke(ctx context.Context, id clientv3.LeaseID) {
	if d.cli.Ctx().Err() != nil {
		return // the client is closed; the lease expires on its own
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = d.cli.Revoke(rctx, id)
}

// leaseErr maps "lease not found" (the lease expired or was revoked) to
// driver.ErrNotHeld.
func leaseErr(err error) error {
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("%w: %w", driver.ErrNotHeld, err)
	}
	return err
}

// IsRetryable reports whether err is a transient engine condition: no
// leader, a leader change, a timeout on the server, or an unavailable or
// overloaded connection. Context errors are not retryable.
func (d *Driver) IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	switch {
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrLeaderChanged),
		errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost), errors.Is(err, rpctypes.ErrTooManyRequests):
		return true
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
			return true
		}
	}
	return false
}
