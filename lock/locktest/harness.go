package locktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
)

// Harness describes the backend under test.
type Harness struct {
	// New returns a handle on the backend under test (required). Handles
	// returned during one Run share the engine's state, as clients in
	// separate processes would; give each call its own client where the
	// backend has one.
	New func(t *testing.T) driver.Locker
	// Clock, when non-nil, is the fake clock every handle from New uses;
	// the suite moves it instead of sleeping. Leave it nil for real
	// engines.
	Clock *clock.Fake
	// TTL is the lease TTL of the expiry and renewal tests (default
	// 500ms). Keep it short for real engines (300ms–2s, above the
	// backend's minimum); with a fake clock any value works.
	TTL time.Duration
	// Restart stops and starts the engine with its data kept (nil: the
	// restart tests are not run).
	Restart func(t *testing.T)
	// TokensSurviveRestart says the backend promises that fencing tokens
	// keep increasing across Restart.
	TokensSurviveRestart bool
	// DropKey deletes the lease on key behind its holder's back, as an
	// eviction, a failover or an operator would (nil: not run).
	DropKey func(t *testing.T, key string)
	// ChildEnv returns the environment ("K=V") a child process of the test
	// binary needs so that New, called there, reaches the same engine (for
	// example "SCALEKIT_REDIS_URL=…"). nil means the backend is
	// in-process and the multi-process tests are not run. The child runs
	// the same top-level test function again, up to Run, so keep setup
	// before Run cheap or conditional on testenv.ChildRole().
	ChildEnv func(t *testing.T) []string
	// Resource, when non-nil, returns the fenced resource named name on
	// the engine (a Redis key behind redislock.Fence, a table row behind
	// lock.SQLFence) for the paused-holder test, which runs only when both
	// Resource and ChildEnv are set. It is called in the child process
	// too, with the same name.
	Resource func(t *testing.T, name string) Resource
}

// Resource is a store that rejects writes with a stale fencing token.
type Resource interface {
	// Write stores value if token is at least the largest token any
	// accepted write carried; otherwise it returns an error wrapping
	// lock.ErrFenced and changes nothing.
	Write(ctx context.Context, token int64, value string) error
	// Read returns the last value stored ("" if none).
	Read(ctx context.Context) (string, error)
}

// suite carries the harness with its defaults applied.
type suite struct {
	Harness
	top string // name of the top-level test that called Run
}

func (s *suite) fake() bool { return s.Clock != nil }

// locker returns a lock.Locker over a new handle.
func (s *suite) locker(t *testing.T) *lock.Locker {
	t.Helper()
	return s.lockerOn(t, s.New(t))
}

func (s *suite) lockerOn(t *testing.T, d driver.Locker) *lock.Locker {
	t.Helper()
	o := &lock.Options{TTL: s.TTL, PollInitial: s.TTL / 100, PollMax: s.TTL / 5}
	if s.Clock != nil {
		o.Clock = s.Clock
	}
	lk, err := lock.New(d, o)
	if err != nil {
		t.Fatalf("lock.New: %v", err)
	}
	return lk
}

var keySeq atomic.Int64

// key returns a key unique to t, this process and this call.
func key(t *testing.T) string {
	name := strings.NewReplacer(" ", "_", ":", "_").Replace(t.Name())
	return fmt.Sprintf("locktest/%s/%d.%d.%d", name, os.Getpid(), time.Now().UnixNano()%1e9, keySeq.Add(1))
}

// pass lets d go by: it advances the fake clock in small steps, letting
// renewals that fire run before the next step, or sleeps on the real one.
func (s *suite) pass(t *testing.T, d time.Duration) {
	t.Helper()
	if !s.fake() {
		time.Sleep(d)
		return
	}
	step := s.TTL / 20
	for d > 0 {
		st := min(step, d)
		s.stepClock(st)
		d -= st
	}
}

// stepClock advances the fake clock by d and waits (briefly, by the real
// clock) until timers that fired and re-armed themselves are back.
func (s *suite) stepClock(d time.Duration) {
	n := s.Clock.Waiters()
	s.Clock.Advance(d)
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	_ = s.Clock.BlockUntil(ctx, n)
	cancel()
}

// eventually waits until cond holds: on a fake clock it advances time in
// small steps up to limit; on the real clock it polls until limit (plus a
// grace period for a loaded machine) has passed.
func (s *suite) eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	if s.fake() {
		// Past limit, the fake clock stands still and the condition gets a
		// few seconds of real time (goroutines of a loaded machine may be
		// slow to react to the clock).
		step := s.TTL / 50
		var deadline time.Time
		for passed := time.Duration(0); !cond(); passed += step {
			if passed <= limit {
				s.stepClock(step)
				continue
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(5 * time.Second)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not true within %v of fake time", what, limit)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return
	}
	deadline := time.Now().Add(limit + 5*time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func mustAcquire(t *testing.T, lk *lock.Locker, k string, o *lock.AcquireOptions) *lock.Lease {
	t.Helper()
	l, err := lk.TryAcquire(context.Background(), k, o)
	if err != nil {
		t.Fatalf("TryAcquire(%q) of a free key: %v", k, err)
	}
	if l.Token() <= 0 {
		t.Fatalf("TryAcquire(%q) returned fencing token %d; tokens must be positive", k, l.Token())
	}
	return l
}

func expectLocked(t *testing.T, lk *lock.Locker, k, why string) {
	t.Helper()
	l, err := lk.TryAcquire(context.Background(), k, nil)
	if err == nil {
		_ = l.Release(context.Background())
		t.Fatalf("TryAcquire(%q) succeeded while %s", k, why)
	}
	if !errors.Is(err, lock.ErrLocked) {
		t.Fatalf("TryAcquire(%q) while %s = %v, want ErrLocked", k, why, err)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
