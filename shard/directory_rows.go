package shard

import (
	"context"
	"errors"
	"fmt"
)

// Create adds key to the directory on node and then runs write, which
// stores the data row on that node. The lookup row goes first so that a
// crash between the two leaves a dangling lookup row (harmless; Repair
// removes it), never a data row that no lookup finds. If write fails the
// lookup row is removed again (best effort).
func (x *Directory) Create(ctx context.Context, key, node string, write func(ctx context.Context, node string) error) error {
	if write == nil {
		return fmt.Errorf("shard.Directory.Create: nil write: %w", ErrBadArgument)
	}
	v, err := x.Assign(ctx, key, node, 0)
	if err != nil {
		return err
	}
	if err := write(ctx, node); err != nil {
		_ = x.Remove(context.WithoutCancel(ctx), key, v)
		return fmt.Errorf("shard.Directory.Create %q: write: %w", key, err)
	}
	return nil
}

// Delete runs del on the key's node to delete the data row, and only then
// removes the lookup row, so a crash in between leaves a dangling lookup
// row, never an unreachable data row.
func (x *Directory) Delete(ctx context.Context, key string, del func(ctx context.Context, node string) error) error {
	if del == nil {
		return fmt.Errorf("shard.Directory.Delete: nil del: %w", ErrBadArgument)
	}
	node, v, err := x.Lookup(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := del(ctx, node); err != nil {
		return fmt.Errorf("shard.Directory.Delete %q: %w", key, err)
	}
	x.forget(key)
	if err := x.Remove(ctx, key, v); err != nil && !errors.Is(err, ErrConflict) {
		return err
	}
	return nil
}

// Repair removes key's lookup row if exists reports that its data row is
// missing on the node the row names (a dangling row left by a crash). It
// reports whether it removed one. The removal is conditional on the
// row's version, so a concurrent re-assignment is never undone.
func (x *Directory) Repair(ctx context.Context, key string, exists func(ctx context.Context, node string) (bool, error)) (bool, error) {
	if exists == nil {
		return false, fmt.Errorf("shard.Directory.Repair: nil exists: %w", ErrBadArgument)
	}
	x.forget(key)
	node, v, err := x.Lookup(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ok, err := exists(ctx, node)
	if err != nil || ok {
		return false, err
	}
	if err := x.Remove(ctx, key, v); err != nil {
		if errors.Is(err, ErrConflict) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
