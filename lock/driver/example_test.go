package driver_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
)

// mapLocker is a minimal driver.Locker over a map, to show the contract:
// one engine operation per call, raw errors or the driver sentinels, no
// retries or renewal (package lock does those). A real backend passes
// locktest against its engine.
type mapLocker struct {
	mu     sync.Mutex
	holder map[string]driver.Holder
	until  map[string]time.Time
	tokens map[string]int64
}

func newMapLocker() *mapLocker {
	return &mapLocker{holder: map[string]driver.Holder{}, until: map[string]time.Time{}, tokens: map[string]int64{}}
}

func (m *mapLocker) live(key string) (driver.Holder, bool) {
	h, ok := m.holder[key]
	return h, ok && time.Now().Before(m.until[key])
}

func (m *mapLocker) TryAcquire(_ context.Context, req driver.Request) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.live(req.Key); ok {
		if h.Owner != req.Owner {
			return 0, driver.ErrLocked
		}
		m.until[req.Key] = time.Now().Add(req.TTL)
		return h.Token, nil
	}
	m.tokens[req.Key]++
	m.holder[req.Key] = driver.Holder{Owner: req.Owner, Meta: req.Meta, Token: m.tokens[req.Key]}
	m.until[req.Key] = time.Now().Add(req.TTL)
	return m.tokens[req.Key], nil
}

func (m *mapLocker) Renew(_ context.Context, key, owner string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.live(key); !ok || h.Owner != owner {
		return driver.ErrNotHeld
	}
	m.until[key] = time.Now().Add(ttl)
	return nil
}

func (m *mapLocker) Release(_ context.Context, key, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.live(key); !ok || h.Owner != owner {
		return driver.ErrNotHeld
	}
	delete(m.holder, key)
	return nil
}

func (m *mapLocker) Holder(_ context.Context, key string) (driver.Holder, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.live(key)
	if ok {
		h.TTL = time.Until(m.until[key])
	}
	return h, ok, nil
}

func Example() {
	ctx := context.Background()
	lk, err := lock.New(newMapLocker(), nil)
	if err != nil {
		panic(err)
	}
	a, _ := lk.TryAcquire(ctx, "job", nil)
	_, err = lk.TryAcquire(ctx, "job", nil)
	fmt.Println(a.Token(), err != nil)
	_ = a.Release(ctx)
	b, _ := lk.TryAcquire(ctx, "job", nil)
	fmt.Println(b.Token())
	_ = b.Release(ctx)
	// Output:
	// 1 true
	// 2
}
