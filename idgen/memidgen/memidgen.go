package memidgen

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/idgen/driver"
)

// Source is an in-memory driver.SegmentSource. Its zero value is ready to
// use. It is safe for concurrent use.
type Source struct {
	mu      sync.Mutex
	next    map[string]int64
	failN   int
	failErr error
	// Latency, when positive, is slept (on the real clock) before each
	// NextBlock, to imitate a network round trip in tests and benchmarks.
	Latency time.Duration
}

// NewSource returns an empty Source.
func NewSource() *Source { return &Source{} }

// NextBlock reserves [start, start+size) of the sequence name.
func (s *Source) NextBlock(ctx context.Context, name string, size int64) (int64, error) {
	if s.Latency > 0 {
		if err := clock.Sleep(ctx, clock.Real(), s.Latency); err != nil {
			return 0, err
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN > 0 {
		s.failN--
		return 0, s.failErr
	}
	if size < 1 {
		return 0, fmt.Errorf("memidgen: block size %d < 1", size)
	}
	if s.next == nil {
		s.next = make(map[string]int64)
	}
	start, ok := s.next[name]
	if !ok {
		start = 1
	}
	s.next[name] = start + size
	return start, nil
}

// FailNext makes the next n NextBlock calls return err.
func (s *Source) FailNext(n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failErr = n, err
}

// NodeIDs is an in-memory driver.NodeIDs whose leases expire on its clock.
// It is safe for concurrent use; create it with NewNodeIDs.
type NodeIDs struct {
	clk    clock.Clock
	mu     sync.Mutex
	leases map[string]map[int64]nodeLease
	seq    uint64
	failN  int
	failE  error
}

type nodeLease struct {
	token   string
	expires time.Time
}

// NewNodeIDs returns an empty NodeIDs on clk (nil means the real clock).
func NewNodeIDs(clk clock.Clock) *NodeIDs {
	return &NodeIDs{clk: clock.Or(clk), leases: make(map[string]map[int64]nodeLease)}
}

// FailNext makes the next n calls return err (a connection failure, say).
func (m *NodeIDs) FailNext(n int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failN, m.failE = n, err
}

// ExpireNow ends the lease on id of namespace at once, as if its TTL had
// passed, so that tests can observe a lost lease.
func (m *NodeIDs) ExpireNow(namespace string, id int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.leases[namespace], id)
}

func (m *NodeIDs) fault() error {
	if m.failN > 0 {
		m.failN--
		return m.failE
	}
	return nil
}

// Acquire leases the lowest free id in [0, maxID].
func (m *NodeIDs) Acquire(ctx context.Context, namespace string, maxID int64, ttl time.Duration) (int64, string, error) {
	if err := ctx.Err(); err != nil {
		return 0, "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault(); err != nil {
		return 0, "", err
	}
	if ttl <= 0 {
		return 0, "", errors.New("memidgen: ttl must be positive")
	}
	now := m.clk.Now()
	ns := m.leases[namespace]
	if ns == nil {
		ns = make(map[int64]nodeLease)
		m.leases[namespace] = ns
	}
	for id := int64(0); id <= maxID; id++ {
		if l, ok := ns[id]; ok && now.Before(l.expires) {
			continue
		}
		m.seq++
		tok := strconv.FormatUint(m.seq, 10)
		ns[id] = nodeLease{token: tok, expires: now.Add(ttl)}
		return id, tok, nil
	}
	return 0, "", driver.ErrNoneFree
}

// Renew extends the lease to ttl from now.
func (m *NodeIDs) Renew(ctx context.Context, namespace string, id int64, token string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault(); err != nil {
		return err
	}
	now := m.clk.Now()
	l, ok := m.leases[namespace][id]
	if !ok || l.token != token || !now.Before(l.expires) {
		return driver.ErrLeaseLost
	}
	m.leases[namespace][id] = nodeLease{token: token, expires: now.Add(ttl)}
	return nil
}

// Release frees id if token still holds it.
func (m *NodeIDs) Release(ctx context.Context, namespace string, id int64, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault(); err != nil {
		return err
	}
	l, ok := m.leases[namespace][id]
	if !ok || l.token != token || !m.clk.Now().Before(l.expires) {
		return driver.ErrLeaseLost
	}
	delete(m.leases[namespace], id)
	return nil
}
