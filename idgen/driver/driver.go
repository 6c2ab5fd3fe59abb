package driver

import (
	"context"
	"errors"
	"time"
)

// ErrNoneFree is returned by NodeIDs.Acquire when every node id in the
// range is held by a live lease.
var ErrNoneFree = errors.New("idgen: no free node id")

// ErrLeaseLost is returned by NodeIDs.Renew and NodeIDs.Release when the
// lease named by (namespace, id, token) no longer exists: it expired, was
// released, or another holder owns the id now.
var ErrLeaseLost = errors.New("idgen: node id lease lost")

// SegmentSource hands out disjoint blocks of IDs: the ticket-server (Flickr)
// or hi/lo scheme. Implementations must be safe for concurrent use by
// several goroutines and by several processes sharing the engine.
type SegmentSource interface {
	// NextBlock reserves the next size IDs of the sequence called name and
	// returns the first of them: the block is [start, start+size). Blocks
	// returned for one name never overlap, whichever process asked, and a
	// later call returns a larger start than an earlier one that completed
	// before it began. The first block of a new name starts at 1. size is
	// at least 1 (the caller validates it).
	NextBlock(ctx context.Context, name string, size int64) (start int64, err error)
}

// NodeIDs leases node ids in [0, maxID] for Snowflake generators, so that no
// two live generators of one namespace share a node id. A lease lasts ttl
// from its last successful Acquire or Renew; after that the id is free for
// others. Implementations must be safe for concurrent use.
type NodeIDs interface {
	// Acquire leases a node id in [0, maxID] that no live lease of the
	// namespace holds, for ttl. It returns the id and an opaque token that
	// identifies this lease in Renew and Release. It returns ErrNoneFree
	// when every id is taken.
	Acquire(ctx context.Context, namespace string, maxID int64, ttl time.Duration) (id int64, token string, err error)
	// Renew extends the lease to ttl from now. It returns ErrLeaseLost if
	// the lease expired or the id is held under another token.
	Renew(ctx context.Context, namespace string, id int64, token string, ttl time.Duration) error
	// Release ends the lease at once, freeing the id. It returns
	// ErrLeaseLost if the lease was no longer held.
	Release(ctx context.Context, namespace string, id int64, token string) error
}
