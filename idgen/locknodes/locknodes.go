package locknodes

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	iddriver "github.com/scalekit-go/scalekit/idgen/driver"
	"github.com/scalekit-go/scalekit/lock/driver"
)

// DefaultPrefix starts every lock key of a node id.
const DefaultPrefix = "idgen/node/"

// Options configures NodeIDs. A nil *Options means the defaults.
type Options struct {
	// Prefix starts every lock key (default DefaultPrefix).
	Prefix string
	// Meta is stored with each lease as the holder's metadata (a host
	// name, say); default empty.
	Meta string
}

// NodeIDs is an idgen/driver.NodeIDs on a lock backend. Acquire costs one
// lock round trip per id tried: one when ids are plentiful, up to maxID+1
// when nearly all are taken. Renew and Release cost one each.
//
// NodeIDs is safe for concurrent use; the zero value is not usable, call
// New.
type NodeIDs struct {
	d      driver.Locker
	prefix string
	meta   string
	maxKey int
}

var _ iddriver.NodeIDs = (*NodeIDs)(nil)

// New returns a NodeIDs over the lock backend d. It does no I/O; a nil d
// is an error.
func New(d driver.Locker, opts *Options) (*NodeIDs, error) {
	if d == nil {
		return nil, errors.New("locknodes: nil lock driver")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	n := &NodeIDs{d: d, prefix: o.Prefix, meta: o.Meta}
	if l, ok := d.(driver.Limited); ok {
		n.maxKey = l.Limits().MaxKeyLen
	}
	return n, nil
}

// Key returns the lock key of node id of namespace.
func (n *NodeIDs) Key(namespace string, id int64) string {
	return n.prefix + namespace + "/" + strconv.FormatInt(id, 10)
}

func (n *NodeIDs) check(namespace string, maxID int64) error {
	switch {
	case n.d == nil:
		return errors.New("locknodes: nil lock driver")
	case namespace == "":
		return errors.New("locknodes: empty namespace")
	case maxID < 0:
		return fmt.Errorf("locknodes: maxID %d < 0", maxID)
	case n.maxKey > 0 && len(n.Key(namespace, maxID)) > n.maxKey:
		return fmt.Errorf("locknodes: key %q is longer than the lock backend's limit of %d bytes", n.Key(namespace, maxID), n.maxKey)
	}
	return nil
}

// newToken returns a random 128-bit owner id in hex.
func newToken() string {
	return strconv.FormatUint(rand.Uint64(), 16) + strconv.FormatUint(rand.Uint64()|1<<63, 16)
}

// Acquire implements idgen/driver.NodeIDs: it leases the first free id of
// [0, maxID], trying them in order from a random start so that concurrent
// generators rarely race for the same id. The token is the lock owner id.
func (n *NodeIDs) Acquire(ctx context.Context, namespace string, maxID int64, ttl time.Duration) (int64, string, error) {
	if err := n.check(namespace, maxID); err != nil {
		return 0, "", err
	}
	if ttl <= 0 {
		return 0, "", fmt.Errorf("locknodes: TTL %v must be positive", ttl)
	}
	owner := newToken()
	count := maxID + 1
	start := rand.Int64N(count)
	for i := int64(0); i < count; i++ {
		id := (start + i) % count
		req := driver.Request{Key: n.Key(namespace, id), Owner: owner, TTL: ttl, Meta: n.meta}
		_, err := n.d.TryAcquire(ctx, req)
		switch {
		case err == nil:
			return id, owner, nil
		case errors.Is(err, driver.ErrLocked):
			continue
		default:
			// The request may have reached the engine: free the id so
			// that nobody waits for its TTL.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = n.d.Release(rctx, req.Key, owner)
			cancel()
			return 0, "", fmt.Errorf("locknodes: acquire node id %d of %q: %w", id, namespace, err)
		}
	}
	return 0, "", fmt.Errorf("locknodes: %q, ids 0..%d: %w", namespace, maxID, iddriver.ErrNoneFree)
}

// Renew implements idgen/driver.NodeIDs.
func (n *NodeIDs) Renew(ctx context.Context, namespace string, id int64, token string, ttl time.Duration) error {
	return n.mapErr("renew", namespace, id, n.d.Renew(ctx, n.Key(namespace, id), token, ttl))
}

// Release implements idgen/driver.NodeIDs.
func (n *NodeIDs) Release(ctx context.Context, namespace string, id int64, token string) error {
	return n.mapErr("release", namespace, id, n.d.Release(ctx, n.Key(namespace, id), token))
}

func (n *NodeIDs) mapErr(op, namespace string, id int64, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, driver.ErrNotHeld):
		return fmt.Errorf("locknodes: %s node id %d of %q: %w (%w)", op, id, namespace, iddriver.ErrLeaseLost, err)
	}
	return fmt.Errorf("locknodes: %s node id %d of %q: %w", op, id, namespace, err)
}
