package etcdshard

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/scalekit-go/scalekit/shard/driver"
)

// Options configures New. Nil means defaults.
type Options struct {
	// Prefix of every key; "" means "scalekit/shard/".
	Prefix string
}

// Driver implements driver.MapStore and driver.Directory on etcd. Safe for
// concurrent use.
type Driver struct {
	cli    *clientv3.Client
	prefix string
}

var (
	_ driver.MapStore  = (*Driver)(nil)
	_ driver.Directory = (*Driver)(nil)
)

// New returns a driver on cli. It does no I/O.
func New(cli *clientv3.Client, opts *Options) (*Driver, error) {
	if cli == nil {
		return nil, errors.New("etcdshard.New: nil client")
	}
	p := "scalekit/shard/"
	if opts != nil && opts.Prefix != "" {
		p = opts.Prefix
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return &Driver{cli: cli, prefix: p}, nil
}

func (d *Driver) mapKey(name string) string { return d.prefix + "map/" + url.PathEscape(name) }
func (d *Driver) dirKey(name, key string) string {
	return d.prefix + "dir/" + url.PathEscape(name) + "/" + url.PathEscape(key)
}

// get returns the decoded value of key and its ModRevision (0: absent).
func (d *Driver) get(ctx context.Context, key string, v any) (int64, error) {
	resp, err := d.cli.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	kv := resp.Kvs[0]
	return kv.ModRevision, json.Unmarshal(kv.Value, v)
}

// swap writes v at key if its ModRevision is still rev (0: absent).
func (d *Driver) swap(ctx context.Context, key string, rev int64, v any) (bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	cmp := clientv3.Compare(clientv3.ModRevision(key), "=", rev)
	if rev == 0 {
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	}
	resp, err := d.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

type table struct {
	Version   int64    `json:"version"`
	Nodes     []string `json:"nodes"`
	ReadNodes []string `json:"read_nodes,omitempty"`
}

// Load implements driver.MapStore.
func (d *Driver) Load(ctx context.Context, name string) (driver.Table, error) {
	var t table
	if _, err := d.get(ctx, d.mapKey(name), &t); err != nil {
		return driver.Table{}, err
	}
	return driver.Table{Version: t.Version, Nodes: t.Nodes, ReadNodes: t.ReadNodes}, nil
}

// CompareAndSwap implements driver.MapStore: it reads the current version
// and its revision, then writes in a transaction guarded by that revision.
func (d *Driver) CompareAndSwap(ctx context.Context, name string, old int64, t driver.Table) error {
	var cur table
	key := d.mapKey(name)
	rev, err := d.get(ctx, key, &cur)
	if err != nil {
		return err
	}
	if cur.Version != old {
		return driver.ErrConflict
	}
	ok, err := d.swap(ctx, key, rev, table{Version: t.Version, Nodes: t.Nodes, ReadNodes: t.ReadNodes})
	if err != nil {
		return err
	}
	if !ok {
		return driver.ErrConflict
	}
	return nil
}

// Watch implements driver.MapStore with an etcd watch on the map's key.
func (d *Driver) Watch(ctx context.Context, name string) (<-chan struct{}, func(), error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	wch := d.cli.Watch(wctx, d.mapKey(name))
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for resp := range wch {
			if resp.Err() != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	var once sync.Once
	return ch, func() { once.Do(func() { cancel(); <-done }) }, nil
}

type entry struct {
	Node    string `json:"node"`
	Version int64  `json:"version"`
}

// Get implements driver.Directory.
func (d *Driver) Get(ctx context.Context, name, key string) (driver.Entry, bool, error) {
	var e entry
	rev, err := d.get(ctx, d.dirKey(name, key), &e)
	if err != nil || rev == 0 {
		return driver.Entry{}, false, err
	}
	return driver.Entry{Node: e.Node, Version: e.Version}, true, nil
}

// Put implements driver.Directory.
func (d *Driver) Put(ctx context.Context, name, key, node string, expect int64) (int64, error) {
	k := d.dirKey(name, key)
	for {
		var cur entry
		rev, err := d.get(ctx, k, &cur)
		if err != nil {
			return 0, err
		}
		if expect >= 0 && cur.Version != expect {
			return 0, driver.ErrConflict
		}
		ok, err := d.swap(ctx, k, rev, entry{Node: node, Version: cur.Version + 1})
		if err != nil {
			return 0, err
		}
		if ok {
			return cur.Version + 1, nil
		}
		if expect >= 0 {
			return 0, driver.ErrConflict
		}
		// Unconditional put lost a race: read again.
	}
}

// Delete implements driver.Directory.
func (d *Driver) Delete(ctx context.Context, name, key string, expect int64) error {
	k := d.dirKey(name, key)
	if expect < 0 {
		_, err := d.cli.Delete(ctx, k)
		return err
	}
	var cur entry
	rev, err := d.get(ctx, k, &cur)
	if err != nil {
		return err
	}
	if rev == 0 || cur.Version != expect {
		return driver.ErrConflict
	}
	resp, err := d.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).Then(clientv3.OpDelete(k)).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return driver.ErrConflict
	}
	return nil
}
