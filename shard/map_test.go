package shard_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/driver"
	"github.com/scalekit-go/scalekit/shard/memshard"
)

func TestMapBasics(t *testing.T) {
	if _, err := shard.NewMap(nil); !errors.Is(err, shard.ErrNoNodes) {
		t.Fatal(err)
	}
	if _, err := shard.NewMap([]string{"a", ""}); !errors.Is(err, shard.ErrEmptyName) {
		t.Fatal(err)
	}
	if _, err := shard.NewMapVersion(0, []string{"a"}); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	if _, err := shard.Spread(0, []string{"a"}); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	m, err := shard.Spread(64, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Logical() != 64 || len(m.Shards("a")) != 22 || fmt.Sprint(m.Nodes()) != "[a b c]" {
		t.Fatalf("spread: %d %v %v", m.Logical(), m.Shards("a"), m.Nodes())
	}
	l, n := m.Lookup("user:1")
	if m.NodeOf(l) != n || m.LogicalOf("user:1") != l || m.NodeOf(99) != "" {
		t.Fatal("lookup inconsistent")
	}
	if _, err := m.Repoint(map[int]string{64: "a"}); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	m2, err := m.Repoint(map[int]string{l: "z"})
	if err != nil || m2.Version() != 2 {
		t.Fatal(err)
	}
	if _, n2 := m2.Lookup("user:1"); n2 != "z" {
		t.Fatal("repoint not applied")
	}
	if _, n1 := m.Lookup("user:1"); n1 != n {
		t.Fatal("old snapshot mutated")
	}
}

// TestRebalanceMovesIdealFraction: adding one node to N moves about
// 1/(N+1) of the logical shards (within 10%), and removing one moves only
// its shards; every key moves only if its logical shard moves.
func TestRebalanceMovesIdealFraction(t *testing.T) {
	const L = 1024
	for _, n := range []int{1, 3, 7, 10, 31} {
		names := nodeNames("n", n+1)
		m, _ := shard.Spread(L, names[:n])
		grown, err := m.Rebalance(names)
		if err != nil {
			t.Fatal(err)
		}
		p, err := shard.PlanMoves(m, grown)
		if err != nil {
			t.Fatal(err)
		}
		ideal := 1.0 / float64(n+1)
		if math.Abs(p.Fraction-ideal)/ideal > 0.10 {
			t.Fatalf("N=%d add: moved %.4f, ideal %.4f", n, p.Fraction, ideal)
		}
		for _, mv := range p.Moves {
			if mv.To != names[n] {
				t.Fatalf("N=%d add: shard %d moved %s→%s, not to the new node", n, mv.Logical, mv.From, mv.To)
			}
		}
		for _, nm := range names {
			if c := len(grown.Shards(nm)); c < L/(n+1) || c > L/(n+1)+1 {
				t.Fatalf("N=%d: node %s holds %d shards", n, nm, c)
			}
		}
		// Remove node 0.
		shrunk, _ := grown.Rebalance(names[1:])
		p, _ = shard.PlanMoves(grown, shrunk)
		for _, mv := range p.Moves {
			if mv.From != names[0] {
				t.Fatalf("N=%d remove: shard %d moved from %s", n, mv.Logical, mv.From)
			}
		}
		if p.Fraction != float64(len(grown.Shards(names[0])))/L {
			t.Fatalf("remove moved %.4f", p.Fraction)
		}
	}
	a, _ := shard.Spread(8, []string{"a"})
	b, _ := shard.Spread(16, []string{"a"})
	if _, err := shard.PlanMoves(a, b); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal("different logical counts accepted")
	}
	if _, err := a.Rebalance(nil); !errors.Is(err, shard.ErrNoNodes) {
		t.Fatal(err)
	}
}

func TestPlanRanges(t *testing.T) {
	cur := []shard.Span[int]{{0, 100, "a"}, {100, 200, "b"}}
	target := []shard.Span[int]{{0, 50, "a"}, {50, 150, "c"}, {150, 200, "b"}}
	moves, err := shard.PlanRanges(cur, target)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(moves) != "[{50 100 a c} {100 150 b c}]" {
		t.Fatalf("moves %v", moves)
	}
	if _, err := shard.PlanRanges(cur, []shard.Span[int]{{0, 300, "a"}}); !errors.Is(err, shard.ErrBadRanges) {
		t.Fatal(err)
	}
	if _, err := shard.PlanRanges(cur, []shard.Span[int]{{0, 10, "a"}, {20, 200, "b"}}); !errors.Is(err, shard.ErrBadRanges) {
		t.Fatal(err)
	}
	same, _ := shard.PlanRanges(cur, cur)
	if len(same) != 0 {
		t.Fatal(same)
	}
}

// slowStore delays Load results so that an older Load can finish after a
// newer one; the router must never go backwards.
type slowStore struct {
	*memshard.Store
	gate chan struct{}
	mu   sync.Mutex
	hold bool
}

func (s *slowStore) Load(ctx context.Context, name string) (driver.Table, error) {
	t, err := s.Store.Load(ctx, name)
	s.mu.Lock()
	hold := s.hold
	s.hold = false
	s.mu.Unlock()
	if hold {
		<-s.gate // the first (old) load pauses after reading
	}
	return t, err
}

func TestRouterNeverGoesBackwards(t *testing.T) {
	ctx := context.Background()
	st := &slowStore{Store: memshard.New(), gate: make(chan struct{}), hold: true}
	r, _ := shard.NewRouter(st, "m", nil)
	m1, _ := shard.Spread(8, []string{"a"})
	if err := st.CompareAndSwap(ctx, "m", 0, driver.Table{Version: 1, Nodes: m1.Table()}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- r.Sync(ctx) }() // reads v1, then pauses
	for {                               // wait until the old load is parked on the gate
		st.mu.Lock()
		h := st.hold
		st.mu.Unlock()
		if !h {
			break
		}
		time.Sleep(time.Millisecond)
	}
	m2, _ := m1.Rebalance([]string{"a", "b"})
	if err := r.Publish(ctx, m2); err != nil {
		t.Fatal(err)
	}
	close(st.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.Version() != 2 {
		t.Fatalf("late v1 load rolled the router back to v%d", r.Version())
	}
	if err := r.Publish(ctx, m2); !errors.Is(err, shard.ErrConflict) {
		t.Fatalf("republishing v2: %v", err)
	}
}

// noWatch is a store whose notifications never arrive.
type noWatch struct{ *memshard.Store }

func (noWatch) Watch(context.Context, string) (<-chan struct{}, func(), error) {
	return nil, nil, errors.New("watch unavailable")
}

func TestRouterPollsWhenNotificationsAreLost(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fk := clock.NewFake(time.Unix(0, 0))
	st := noWatch{memshard.New()}
	r, err := shard.NewRouter(st, "m", &shard.RouterOptions{Clock: fk, PollInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Lookup("k"); !errors.Is(err, shard.ErrNoShard) {
		t.Fatalf("lookup before load: %v", err)
	}
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	_ = fk.BlockUntil(ctx, 1)
	m, _ := shard.Spread(4, []string{"a"})
	if err := st.CompareAndSwap(ctx, "m", 0, driver.Table{Version: 1, Nodes: m.Table()}); err != nil {
		t.Fatal(err)
	}
	fk.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for r.Version() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("router did not pick up the map by polling")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if _, err := shard.NewRouter(nil, "m", nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	if _, err := shard.NewRouter(st, "", nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
}

func TestDirectoryCache(t *testing.T) {
	ctx := context.Background()
	fk := clock.NewFake(time.Unix(0, 0))
	st := memshard.New()
	a, _ := shard.NewDirectory(st, "d", &shard.DirectoryOptions{Clock: fk, CacheTTL: time.Second})
	b, _ := shard.NewDirectory(st, "d", &shard.DirectoryOptions{Clock: fk, CacheTTL: time.Second})
	if _, err := a.Assign(ctx, "k", "x", 0); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := b.Lookup(ctx, "k"); n != "x" {
		t.Fatal(n)
	}
	if _, err := a.Assign(ctx, "k", "y", 1); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := a.Lookup(ctx, "k"); n != "y" {
		t.Fatalf("writer's own cache stale: %s", n)
	}
	if n, _, _ := b.Lookup(ctx, "k"); n != "x" {
		t.Fatalf("other process should still see its cached x within TTL, got %s", n)
	}
	fk.Advance(time.Second)
	if n, v, _ := b.Lookup(ctx, "k"); n != "y" || v != 2 {
		t.Fatalf("after TTL: %s v%d", n, v)
	}
	if _, _, err := a.Lookup(ctx, ""); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	if _, err := a.Assign(ctx, "k", "", 0); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	if _, err := shard.NewDirectory(nil, "d", nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
}
