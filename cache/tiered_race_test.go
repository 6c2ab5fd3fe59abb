package cache_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
)

// gateStore is an L2 double (an in-memory byte store with its bus) whose
// Get and Set can be paused right after they touched the store, to open
// the windows in which a tiered cache used to keep stale copies.
type gateStore struct {
	*memorycache.Bytes
	mu       sync.Mutex
	afterGet func(key string) // called after Get read the store
	afterSet func(key string, value []byte)
}

func (g *gateStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, ok, err := g.Bytes.Get(ctx, key)
	g.mu.Lock()
	hook := g.afterGet
	g.mu.Unlock()
	if hook != nil {
		hook(key)
	}
	return v, ok, err
}

func (g *gateStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	err := g.Bytes.Set(ctx, key, value, ttl)
	g.mu.Lock()
	hook := g.afterSet
	g.mu.Unlock()
	if hook != nil {
		hook(key, value)
	}
	return err
}

func (g *gateStore) setHooks(get func(string), set func(string, []byte)) {
	g.mu.Lock()
	g.afterGet, g.afterSet = get, set
	g.mu.Unlock()
}

func newGateStore(t *testing.T) *gateStore {
	t.Helper()
	b, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return &gateStore{Bytes: b}
}

func openTieredOn(t *testing.T, l2 *gateStore) (*cache.Cache[string, int], *memorycache.Store[string, cache.Entry[int]]) {
	t.Helper()
	l1, err := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.OpenTiered(ctx, l1, l2, &cache.Options[string, int]{L1TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(ctx) })
	return c, l1
}

// pauseNextGet makes the next L2 Get of key block after it has read the
// store; read is closed then, and the Get resumes when release is closed.
func pauseNextGet(g *gateStore, key string) (read, release chan struct{}) {
	read, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	g.setHooks(func(k string) {
		if k != key {
			return
		}
		once.Do(func() {
			close(read)
			<-release
		})
	}, nil)
	return read, release
}

// A Get on one instance that read the old value from L2 before a Set on
// the same instance completed must not leave that old value in L1.
func TestTieredLocalGetRacingSet(t *testing.T) {
	l2 := newGateStore(t)
	c, l1 := openTieredOn(t, l2)
	if err := c.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	l1.Delete("k") // force the next Get to L2
	read, release := pauseNextGet(l2, "k")
	done := make(chan int)
	go func() { v, _, _ := c.Get(ctx, "k"); done <- v }()
	<-read // the Get holds the old value 1
	if err := c.Set(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	l2.setHooks(nil, nil)
	if v, ok, err := c.Get(ctx, "k"); err != nil || !ok || v != 2 {
		t.Fatalf("after Set(2) completed, Get = %d, %v, %v; want 2 (stale L1 copy)", v, ok, err)
	}
}

// Same with Delete: the racing Get must not resurrect the deleted value.
func TestTieredLocalGetRacingDelete(t *testing.T) {
	l2 := newGateStore(t)
	c, l1 := openTieredOn(t, l2)
	if err := c.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	l1.Delete("k")
	read, release := pauseNextGet(l2, "k")
	done := make(chan struct{})
	go func() { _, _, _ = c.Get(ctx, "k"); close(done) }()
	<-read
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	l2.setHooks(nil, nil)
	if v, ok, err := c.Get(ctx, "k"); err != nil || ok {
		t.Fatalf("after Delete completed, Get = %d, %v, %v; want a miss", v, ok, err)
	}
}

// Two instances set the same key at once; A's L2 write lands first, B's
// second. Whatever the interleaving, both instances must read what L2
// holds once the writes have completed.
func TestTieredConcurrentWritersConverge(t *testing.T) {
	l2 := newGateStore(t)
	a, _ := openTieredOn(t, l2)
	b, _ := openTieredOn(t, l2)
	aWrote, bDone := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	l2.setHooks(nil, func(key string, _ []byte) {
		// Pause A's Set (the first one) after its L2 write until B's Set
		// (L2 write, L1, broadcast) has completed.
		if first.CompareAndSwap(false, true) {
			close(aWrote)
			<-bDone
		}
	})
	errA := make(chan error)
	go func() { errA <- a.Set(ctx, "k", 1) }()
	<-aWrote
	if err := b.Set(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	close(bDone)
	if err := <-errA; err != nil {
		t.Fatal(err)
	}
	l2.setHooks(nil, nil)
	for name, c := range map[string]*cache.Cache[string, int]{"A": a, "B": b} {
		if v, ok, err := c.Get(ctx, "k"); err != nil || !ok || v != 2 {
			t.Errorf("instance %s reads %d, %v, %v; L2 holds 2", name, v, ok, err)
		}
	}
}
