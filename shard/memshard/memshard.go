package memshard

import (
	"context"
	"slices"
	"sync"

	"github.com/scalekit-go/scalekit/shard/driver"
)

// Store implements driver.MapStore and driver.Directory in memory. The zero
// value is not usable; call New.
type Store struct {
	mu       sync.Mutex
	tables   map[string]driver.Table
	watchers map[string]map[chan struct{}]struct{}
	dir      map[string]map[string]driver.Entry
}

var (
	_ driver.MapStore  = (*Store)(nil)
	_ driver.Directory = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		tables:   map[string]driver.Table{},
		watchers: map[string]map[chan struct{}]struct{}{},
		dir:      map[string]map[string]driver.Entry{},
	}
}

// Load implements driver.MapStore.
func (s *Store) Load(ctx context.Context, name string) (driver.Table, error) {
	if err := ctx.Err(); err != nil {
		return driver.Table{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[name]
	t.Nodes, t.ReadNodes = slices.Clone(t.Nodes), slices.Clone(t.ReadNodes)
	return t, nil
}

// CompareAndSwap implements driver.MapStore.
func (s *Store) CompareAndSwap(ctx context.Context, name string, old int64, t driver.Table) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables[name].Version != old {
		return driver.ErrConflict
	}
	t.Nodes, t.ReadNodes = slices.Clone(t.Nodes), slices.Clone(t.ReadNodes)
	s.tables[name] = t
	for ch := range s.watchers[name] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// Watch implements driver.MapStore.
func (s *Store) Watch(ctx context.Context, name string) (<-chan struct{}, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.watchers[name] == nil {
		s.watchers[name] = map[chan struct{}]struct{}{}
	}
	s.watchers[name][ch] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.watchers[name], ch)
			s.mu.Unlock()
		})
	}, nil
}

// Get implements driver.Directory.
func (s *Store) Get(ctx context.Context, name, key string) (driver.Entry, bool, error) {
	if err := ctx.Err(); err != nil {
		return driver.Entry{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.dir[name][key]
	return e, ok, nil
}

// Put implements driver.Directory.
func (s *Store) Put(ctx context.Context, name, key, node string, expect int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.dir[name][key] // Version 0 when absent
	if expect >= 0 && cur.Version != expect {
		return 0, driver.ErrConflict
	}
	if s.dir[name] == nil {
		s.dir[name] = map[string]driver.Entry{}
	}
	v := cur.Version + 1
	s.dir[name][key] = driver.Entry{Node: node, Version: v}
	return v, nil
}

// Delete implements driver.Directory.
func (s *Store) Delete(ctx context.Context, name, key string, expect int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.dir[name][key]
	if expect >= 0 && (!ok || cur.Version != expect) {
		return driver.ErrConflict
	}
	delete(s.dir[name], key)
	return nil
}
