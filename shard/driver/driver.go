package driver

import (
	"context"
	"errors"
)

// ErrConflict is returned by a driver when a compare-and-swap finds a
// version other than the expected one.
var ErrConflict = errors.New("driver: version conflict")

// Table is one version of a two-level shard map: Nodes[l] is the physical
// node that takes the writes of logical shard l, and ReadNodes[l] the one
// that serves its reads (nil ReadNodes: the same as Nodes).
type Table struct {
	Version   int64
	Nodes     []string
	ReadNodes []string
}

// MapStore stores named, versioned tables. Implementations must be safe
// for concurrent use by several processes.
type MapStore interface {
	// Load returns the current table of name; a name never stored
	// returns a Table with Version 0 and no nodes, and no error.
	Load(ctx context.Context, name string) (Table, error)
	// CompareAndSwap stores t (whose Version is old+1) if the current
	// version of name is old (0: absent), else returns ErrConflict.
	CompareAndSwap(ctx context.Context, name string, old int64, t Table) error
	// Watch returns a channel that receives a value (coalesced, best
	// effort) after name changes, and a stop function. The channel is
	// closed if the watch breaks; callers must also poll, since a change
	// may be missed (a LISTEN connection drops notifications while down).
	Watch(ctx context.Context, name string) (<-chan struct{}, func(), error)
}

// Entry is a directory row.
type Entry struct {
	Node    string
	Version int64
}

// Directory is a versioned key → node lookup table, per directory name.
type Directory interface {
	// Get returns the entry of key, found=false if absent.
	Get(ctx context.Context, name, key string) (e Entry, found bool, err error)
	// Put sets key to node if its current version is expect (0: must be
	// absent; -1: any) and returns the new version; ErrConflict otherwise.
	Put(ctx context.Context, name, key, node string, expect int64) (int64, error)
	// Delete removes key if its version is expect (-1: any); deleting an
	// absent key with expect -1 is not an error. ErrConflict otherwise.
	Delete(ctx context.Context, name, key string, expect int64) error
}
