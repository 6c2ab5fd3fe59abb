package main

import (
	"context"
	"errors"
	"hash/fnv"
)

// shardedStore spreads links over N stores by code. Every single-link
// call goes to one shard; List is a scatter-gather that asks each shard for
// its first offset+limit links in the requested order and merges them (the
// right way: merging per-shard pages, never per-shard offsets).
type shardedStore struct {
	shards []LinkStore
	route  func(code string) int
}

// newShardedStore routes by FNV-1a of the code modulo len(shards).
func newShardedStore(shards []LinkStore) *shardedStore {
	n := uint32(len(shards))
	return &shardedStore{shards: shards, route: func(code string) int {
		h := fnv.New32a()
		_, _ = h.Write([]byte(code))
		return int(h.Sum32() % n)
	}}
}

func (s *shardedStore) of(code string) LinkStore { return s.shards[s.route(code)] }

func (s *shardedStore) Create(ctx context.Context, l Link) error { return s.of(l.Code).Create(ctx, l) }
func (s *shardedStore) Get(ctx context.Context, code string) (Link, error) {
	return s.of(code).Get(ctx, code)
}
func (s *shardedStore) Update(ctx context.Context, l Link) (Link, error) {
	return s.of(l.Code).Update(ctx, l)
}
func (s *shardedStore) Delete(ctx context.Context, code string) error {
	return s.of(code).Delete(ctx, code)
}
func (s *shardedStore) Visit(ctx context.Context, code string) (Link, error) {
	return s.of(code).Visit(ctx, code)
}

func (s *shardedStore) List(ctx context.Context, q ListQuery) ([]Link, int64, error) {
	var all []Link
	var total int64
	for _, sh := range s.shards {
		ls, n, err := sh.List(ctx, ListQuery{Offset: 0, Limit: q.Offset + q.Limit, Sort: q.Sort, Desc: q.Desc})
		if err != nil {
			return nil, 0, err
		}
		all = append(all, ls...)
		total += n
	}
	sortLinks(all, q.Sort, q.Desc)
	return page(all, q.Offset, q.Limit), total, nil
}

func (s *shardedStore) Codes(ctx context.Context, fn func(string)) error {
	for _, sh := range s.shards {
		if err := sh.Codes(ctx, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *shardedStore) Close() error {
	var errs []error
	for _, sh := range s.shards {
		errs = append(errs, sh.Close())
	}
	return errors.Join(errs...)
}

// ShardOf reports the shard index of code (for /debug/scalekit).
func (s *shardedStore) ShardOf(code string) int { return s.route(code) }

// countingStore wraps a LinkStore and counts reads, so tests and the debug
// page can see that redirects come from the cache.
type countingStore struct {
	LinkStore
	gets, visits counter
}

func (c *countingStore) Get(ctx context.Context, code string) (Link, error) {
	c.gets.Add(1)
	return c.LinkStore.Get(ctx, code)
}

func (c *countingStore) Visit(ctx context.Context, code string) (Link, error) {
	c.visits.Add(1)
	return c.LinkStore.Visit(ctx, code)
}
