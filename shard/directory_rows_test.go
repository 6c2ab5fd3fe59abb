package shard_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/memshard"
)

// dataNodes is a fake set of data nodes.
type dataNodes struct {
	mu   sync.Mutex
	rows map[string]map[string]bool
}

func (d *dataNodes) put(node, key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rows[node] == nil {
		d.rows[node] = map[string]bool{}
	}
	d.rows[node][key] = true
}

func (d *dataNodes) has(node, key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rows[node][key]
}

func TestDirectoryLookupRowOrdering(t *testing.T) {
	ctx := context.Background()
	dir, _ := shard.NewDirectory(memshard.New(), "acct", &shard.DirectoryOptions{CacheTTL: -1})
	data := &dataNodes{rows: map[string]map[string]bool{}}

	// The lookup row exists before the data row is written.
	err := dir.Create(ctx, "a1", "db1", func(ctx context.Context, node string) error {
		if n, _, err := dir.Lookup(ctx, "a1"); err != nil || n != node {
			t.Fatalf("lookup row missing while the data row is written: %v", err)
		}
		data.put(node, "a1")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A crash after the lookup row: simulate by a write that "dies".
	crash := errors.New("process died")
	if err := dir.Create(ctx, "a2", "db2", func(context.Context, string) error { return crash }); !errors.Is(err, crash) {
		t.Fatal(err)
	}
	if _, _, err := dir.Lookup(ctx, "a2"); !errors.Is(err, shard.ErrNotFound) {
		t.Fatalf("failed create left its lookup row: %v", err)
	}
	// A real crash leaves the lookup row (Assign done, write never ran):
	// Repair removes it; it keeps rows whose data exists.
	_, _ = dir.Assign(ctx, "a3", "db2", 0)
	exists := func(key string) func(context.Context, string) (bool, error) {
		return func(_ context.Context, node string) (bool, error) { return data.has(node, key), nil }
	}
	if removed, err := dir.Repair(ctx, "a3", exists("a3")); err != nil || !removed {
		t.Fatalf("dangling row not repaired: %v %v", removed, err)
	}
	if removed, _ := dir.Repair(ctx, "a1", exists("a1")); removed {
		t.Fatal("Repair removed a live row")
	}
	// Delete: data first, lookup row after.
	err = dir.Delete(ctx, "a1", func(ctx context.Context, node string) error {
		if _, _, err := dir.Lookup(ctx, "a1"); err != nil {
			t.Fatal("lookup row removed before the data row")
		}
		data.mu.Lock()
		delete(data.rows[node], "a1")
		data.mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dir.Lookup(ctx, "a1"); !errors.Is(err, shard.ErrNotFound) {
		t.Fatal(err)
	}
	if err := dir.Delete(ctx, "absent", func(context.Context, string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := dir.Create(ctx, "x", "n", nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
}
