package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/driver"
)

// linkMapName is the name of the shard map of links in the map store.
const linkMapName = "links"

// shardedStore spreads links over physical stores with package shard's
// two-level map: a code hashes to one of a fixed number of logical shards
// (shard.Hash(code) mod Logical — never rehashed), and the current version
// of the map, held by a shard.Router, points each logical shard at a
// physical store ("links-0", "links-1", …: a memStore each in memory mode,
// a table each with -postgres). The map lives in a driver.MapStore
// (memshard in memory, pgshard with -postgres), so every node — in this
// process or another — routes by the same versioned map, and the router
// follows new versions (LISTEN/NOTIFY with pgshard, plus polling).
//
// Every single-link call goes to one store; List is a shard.Scatter over
// the stores followed by shard.MergeSorted of their first offset+limit
// links (merging per-store pages, never per-store offsets).
type shardedStore struct {
	router   *shard.Router
	mapStore driver.MapStore
	mapName  string
	driver   string // "memshard" or "pgshard", for the debug page
	open     func(ctx context.Context, node string) (LinkStore, error)

	mu     sync.RWMutex
	stores map[string]LinkStore // physical node → store

	stop context.CancelFunc
	done chan struct{}
}

// openShardedStore loads (or, on first start, publishes) the map of links
// in ms — logical shards spread round-robin over physical stores
// links-0…links-(physical-1) — opens a store for every node it names with
// open, and keeps the map current in the background until Close.
func openShardedStore(ctx context.Context, ms driver.MapStore, driverName string, logical, physical int,
	open func(ctx context.Context, node string) (LinkStore, error)) (*shardedStore, error) {
	r, err := shard.NewRouter(ms, linkMapName, &shard.RouterOptions{PollInterval: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	s := &shardedStore{router: r, mapStore: ms, mapName: linkMapName, driver: driverName, open: open, stores: map[string]LinkStore{}}
	if err := r.Sync(ctx); err != nil {
		return nil, err
	}
	if r.Version() == 0 {
		names := make([]string, physical)
		for i := range names {
			names[i] = fmt.Sprintf("links-%d", i)
		}
		m, err := shard.Spread(logical, names)
		if err != nil {
			return nil, err
		}
		// Another node may publish first: then its map is the map.
		if err := r.Publish(ctx, m); err != nil && !errors.Is(err, shard.ErrConflict) {
			return nil, fmt.Errorf("publish shard map: %w", err)
		}
		if err := r.Sync(ctx); err != nil {
			return nil, err
		}
	}
	if r.Map() == nil {
		return nil, fmt.Errorf("shard map %q: %w", linkMapName, shard.ErrNoShard)
	}
	for _, node := range r.Map().Nodes() {
		if _, err := s.storeOf(ctx, node); err != nil {
			s.Close()
			return nil, err
		}
	}
	rctx, cancel := context.WithCancel(context.Background())
	s.stop, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		_ = r.Run(rctx)
	}()
	return s, nil
}

// storeOf returns the store of a physical node, opening it the first time
// a map version names it.
func (s *shardedStore) storeOf(ctx context.Context, node string) (LinkStore, error) {
	s.mu.RLock()
	st, ok := s.stores[node]
	s.mu.RUnlock()
	if ok {
		return st, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stores[node]; ok {
		return st, nil
	}
	st, err := s.open(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("open shard store %q: %w", node, err)
	}
	s.stores[node] = st
	return st, nil
}

// of routes code through the current map version to its store.
func (s *shardedStore) of(ctx context.Context, code string) (LinkStore, error) {
	_, node, err := s.router.Lookup(code)
	if err != nil {
		return nil, err
	}
	return s.storeOf(ctx, node)
}

func (s *shardedStore) Create(ctx context.Context, l Link) error {
	st, err := s.of(ctx, l.Code)
	if err != nil {
		return err
	}
	return st.Create(ctx, l)
}

func (s *shardedStore) Get(ctx context.Context, code string) (Link, error) {
	st, err := s.of(ctx, code)
	if err != nil {
		return Link{}, err
	}
	return st.Get(ctx, code)
}

func (s *shardedStore) Update(ctx context.Context, l Link) (Link, error) {
	st, err := s.of(ctx, l.Code)
	if err != nil {
		return Link{}, err
	}
	return st.Update(ctx, l)
}

func (s *shardedStore) Delete(ctx context.Context, code string) error {
	st, err := s.of(ctx, code)
	if err != nil {
		return err
	}
	return st.Delete(ctx, code)
}

func (s *shardedStore) Visit(ctx context.Context, code string) (Link, error) {
	st, err := s.of(ctx, code)
	if err != nil {
		return Link{}, err
	}
	return st.Visit(ctx, code)
}

// nodes returns the physical nodes of the current map version.
func (s *shardedStore) nodes() []string {
	if m := s.router.Map(); m != nil {
		return m.Nodes()
	}
	return nil
}

type linkPage struct {
	links []Link
	total int64
}

func (s *shardedStore) List(ctx context.Context, q ListQuery) ([]Link, int64, error) {
	limit := q.Limit
	if limit < 0 {
		limit = -1
	} else {
		limit = shard.PushdownLimit(q.Offset, q.Limit)
	}
	res, err := shard.Scatter(ctx, s.nodes(), func(ctx context.Context, node string) (linkPage, error) {
		st, err := s.storeOf(ctx, node)
		if err != nil {
			return linkPage{}, err
		}
		ls, n, err := st.List(ctx, ListQuery{Offset: 0, Limit: limit, Sort: q.Sort, Desc: q.Desc})
		return linkPage{ls, n}, err
	}, &shard.ScatterOptions{Timeout: 5 * time.Second, Name: "shortener-links"})
	if err != nil {
		return nil, 0, err
	}
	lists := make([][]Link, len(res))
	var total int64
	for i, r := range res {
		lists[i] = r.Value.links
		total += r.Value.total
	}
	out, err := shard.MergeSorted(lists, linkCompare(q.Sort, q.Desc), q.Offset, q.Limit)
	if err != nil {
		return nil, 0, err
	}
	if out == nil {
		out = []Link{}
	}
	return out, total, nil
}

func (s *shardedStore) Codes(ctx context.Context, fn func(string)) error {
	for _, node := range s.nodes() {
		st, err := s.storeOf(ctx, node)
		if err != nil {
			return err
		}
		if err := st.Codes(ctx, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *shardedStore) Close() error {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, st := range s.stores {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// ShardOf reports the logical shard and physical store of code.
func (s *shardedStore) ShardOf(code string) (logical int, node string, err error) {
	return s.router.Lookup(code)
}

// debug describes the map for /debug/scalekit: its version, the logical
// shards of every physical store, and the driver that holds it.
func (s *shardedStore) debug() map[string]any {
	m := s.router.Map()
	if m == nil {
		return map[string]any{"map": s.mapName, "version": 0}
	}
	placement := map[string][]int{}
	for _, node := range m.Nodes() {
		placement[node] = m.Shards(node)
	}
	s.mu.RLock()
	open := make([]string, 0, len(s.stores))
	for n := range s.stores {
		open = append(open, n)
	}
	s.mu.RUnlock()
	slices.Sort(open)
	return map[string]any{
		"map": s.mapName, "version": m.Version(), "driver": s.driver,
		"strategy": "two-level: shard.Hash(code) mod logical → map[logical] → physical store",
		"logical":  m.Logical(), "physical": m.Nodes(), "placement": placement, "stores_open": open,
	}
}

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
