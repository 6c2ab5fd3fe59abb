package lock_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/memlock"
)

// fixture is a Locker over a memlock engine, both on one fake clock.
type fixture struct {
	fc *clock.Fake
	m  *memlock.Locker
	lk *lock.Locker
}

func newFixture(t *testing.T, o *lock.Options) *fixture {
	t.Helper()
	fc := clock.NewFake(time.Time{})
	m := memlock.New(&memlock.Options{Clock: fc})
	if o == nil {
		o = &lock.Options{}
	}
	o.Clock = fc
	if o.TTL == 0 {
		o.TTL = time.Second
	}
	lk, err := lock.New(m, o)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{fc: fc, m: m, lk: lk}
}

// step advances the fake clock by d in steps of 10ms, letting the
// renewal goroutine that each step starts finish before the next one.
func (f *fixture) step(t *testing.T, d time.Duration) {
	t.Helper()
	for d > 0 {
		s := min(d, 10*time.Millisecond)
		n := f.fc.Waiters()
		f.fc.Advance(s)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_ = f.fc.BlockUntil(ctx, n)
		cancel()
		d -= s
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestNewValidatesOptions(t *testing.T) {
	m := memlock.New(nil)
	if _, err := lock.New(m, nil); err != nil {
		t.Fatalf("New with nil options: %v", err)
	}
	for _, o := range []lock.Options{
		{TTL: -time.Second},
		{TTL: time.Millisecond},
		{TTL: time.Second, RenewEvery: time.Second},
		{PollInitial: -1},
	} {
		if _, err := lock.New(m, &o); !errors.Is(err, lock.ErrInvalidTTL) {
			t.Errorf("New(%+v) = %v, want ErrInvalidTTL", o, err)
		}
	}
	if _, err := lock.New(m, &lock.Options{Wait: lock.Wait(9)}); err == nil {
		t.Error("New with an unknown wait strategy succeeded")
	}
	if _, err := lock.New(memlock.New(&memlock.Options{MinTTL: time.Minute}), &lock.Options{TTL: time.Second}); !errors.Is(err, lock.ErrInvalidTTL) {
		t.Errorf("TTL below the backend's minimum: %v, want ErrInvalidTTL", err)
	}
	if _, err := lock.New(nil, nil); err == nil {
		t.Error("New(nil driver) succeeded")
	}
}

func TestKeyLimitFromBackend(t *testing.T) {
	lk, _ := lock.New(memlock.New(&memlock.Options{MaxKeyLen: 8}), nil)
	_, err := lk.TryAcquire(context.Background(), "123456789", nil)
	if !errors.Is(err, lock.ErrInvalidKey) || !strings.Contains(err.Error(), "limit of 8") {
		t.Fatalf("9-byte key with a limit of 8: %v", err)
	}
	if _, _, err := lk.Holder(context.Background(), ""); !errors.Is(err, lock.ErrInvalidKey) {
		t.Fatalf("Holder(\"\") = %v, want ErrInvalidKey", err)
	}
}

func TestRenewalKeepsLeaseOnFakeClock(t *testing.T) {
	f := newFixture(t, nil)
	l, err := f.lk.TryAcquire(context.Background(), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.step(t, 10*time.Second)
	if isClosed(l.Done()) {
		t.Fatalf("lease lost: %v", l.Err())
	}
	if ttl := f.m.TTL("k"); ttl <= 0 || ttl > time.Second {
		t.Fatalf("engine TTL %v after renewals, want in (0, 1s]", ttl)
	}
	// Renewal happens at about TTL/3 with ±10% jitter, so the engine's TTL
	// never falls below TTL - (TTL/3 + 10%) - a step.
	if ttl := f.m.TTL("k"); ttl < time.Second-time.Second/3-time.Second/30-10*time.Millisecond {
		t.Fatalf("engine TTL %v: renewals come too late", ttl)
	}
}

func TestRenewalFailingPastTTLLosesLease(t *testing.T) {
	f := newFixture(t, nil)
	l, err := f.lk.TryAcquire(context.Background(), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 1000)
	for i := range errs {
		errs[i] = memlock.ErrTransient
	}
	f.m.FailNext(errs...)
	f.step(t, 850*time.Millisecond)
	if isClosed(l.Done()) {
		t.Fatalf("lease lost %v before its validity (TTL - TTL/10) ran out: %v", 850*time.Millisecond, l.Err())
	}
	f.step(t, 100*time.Millisecond)
	if !isClosed(l.Done()) {
		t.Fatal("lease still held after renewals failed for longer than its validity")
	}
	err = l.Err()
	if !errors.Is(err, lock.ErrLeaseLost) || !errors.Is(err, memlock.ErrTransient) {
		t.Fatalf("Err() = %v, want ErrLeaseLost wrapping the renewal error", err)
	}
	if err := l.Release(context.Background()); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("Release of a lost lease = %v, want ErrNotHeld", err)
	}
}

func TestTransientRenewalFailureRecovers(t *testing.T) {
	f := newFixture(t, nil)
	l, err := f.lk.TryAcquire(context.Background(), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.m.FailNext(memlock.ErrTransient, memlock.ErrTransient)
	f.step(t, 5*time.Second)
	if isClosed(l.Done()) {
		t.Fatalf("lease lost after two transient failures: %v", l.Err())
	}
}

func TestEngineRefusalLosesLeaseAtNextRenewal(t *testing.T) {
	f := newFixture(t, nil)
	l, err := f.lk.TryAcquire(context.Background(), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.m.Expire("k")
	f.step(t, 400*time.Millisecond) // one renewal period and its jitter
	if !isClosed(l.Done()) {
		t.Fatal("lease still held after the engine dropped the key and a renewal ran")
	}
	if err := l.Err(); !errors.Is(err, lock.ErrLeaseLost) || !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("Err() = %v, want ErrLeaseLost and ErrNotHeld", err)
	}
}

func TestTryAcquireErrors(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	boom := errors.New("boom")
	f.m.FailNext(boom)
	if _, err := f.lk.TryAcquire(ctx, "k", nil); !errors.Is(err, boom) || errors.Is(err, lock.ErrLocked) {
		t.Fatalf("TryAcquire with an engine error = %v, want it wrapped", err)
	}
	l, err := f.lk.TryAcquire(ctx, "k", &lock.AcquireOptions{Meta: "me"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Meta() != "me" || l.TTL() != time.Second || l.Owner() == "" {
		t.Fatalf("lease Meta %q TTL %v Owner %q", l.Meta(), l.TTL(), l.Owner())
	}
	if _, err := f.lk.TryAcquire(ctx, "k", nil); !errors.Is(err, lock.ErrLocked) {
		t.Fatalf("TryAcquire of a held key = %v, want ErrLocked", err)
	}
}

func TestAcquireRetriesTransientErrors(t *testing.T) {
	f := newFixture(t, &lock.Options{Wait: lock.WaitPoll})
	f.m.FailNext(memlock.ErrTransient, memlock.ErrTransient)
	got := make(chan error, 1)
	go func() {
		_, err := f.lk.Acquire(context.Background(), "k", nil)
		got <- err
	}()
	for {
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("Acquire after transient errors: %v", err)
			}
			return
		default:
			f.step(t, 10*time.Millisecond)
		}
	}
}

func TestAcquireFinalErrorIsReturned(t *testing.T) {
	f := newFixture(t, nil)
	boom := errors.New("boom")
	f.m.FailNext(boom)
	if _, err := f.lk.Acquire(context.Background(), "k", nil); !errors.Is(err, boom) {
		t.Fatalf("Acquire with a permanent engine error = %v, want it returned", err)
	}
}

func TestWaitPollGetsLockAfterExpiry(t *testing.T) {
	f := newFixture(t, &lock.Options{Wait: lock.WaitPoll})
	ctx := context.Background()
	held, err := f.lk.TryAcquire(ctx, "k", &lock.AcquireOptions{NoRenew: true})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *lock.Lease, 1)
	go func() {
		l, err := f.lk.Acquire(ctx, "k", nil)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	for passed := time.Duration(0); ; passed += 10 * time.Millisecond {
		select {
		case l := <-got:
			if passed < 900*time.Millisecond {
				t.Fatalf("Acquire got a held key after %v", passed)
			}
			if l.Token() <= held.Token() {
				t.Fatalf("token %d after %d", l.Token(), held.Token())
			}
			return
		default:
		}
		if passed > 5*time.Second {
			t.Fatal("poller never got the expired key")
		}
		f.step(t, 10*time.Millisecond)
	}
}

// plain hides memlock's optional interfaces.
type plain struct{ driver.Locker }

func TestWaitNativeNeedsBackendSupport(t *testing.T) {
	lk, err := lock.New(plain{memlock.New(nil)}, &lock.Options{Wait: lock.WaitNative})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lk.Acquire(context.Background(), "k", nil); !errors.Is(err, lock.ErrNoNativeWait) {
		t.Fatalf("WaitNative on a backend without native wait = %v, want ErrNoNativeWait", err)
	}
	if _, err := lk.Acquire(context.Background(), "k", &lock.AcquireOptions{Wait: lock.WaitPoll}); err != nil {
		t.Fatalf("WaitPoll override: %v", err)
	}
	if s := lock.WaitNative.String() + lock.Wait(7).String(); s != "nativeWait(7)" {
		t.Fatalf("Wait strings %q", s)
	}
}

func TestAcquireCancelledReturnsCtxErr(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.lk.TryAcquire(context.Background(), "k", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.lk.Acquire(ctx, "k", nil); err != context.Canceled {
		t.Fatalf("Acquire with a cancelled context = %v, want context.Canceled unwrapped", err)
	}
}

// slowQueue is a Queuer over memlock whose Acquire takes wait on the fake
// clock before it acquires, as a backend's wait queue does while the key
// is held by someone else.
type slowQueue struct {
	*memlock.Locker
	fc   *clock.Fake
	wait time.Duration
}

func (q slowQueue) Acquire(ctx context.Context, req driver.Request) (int64, error) {
	q.fc.Advance(q.wait)
	return q.TryAcquire(ctx, req)
}

// Time spent waiting in a backend's queue does not count against the
// lease that the wait ends with.
func TestQueuedWaitDoesNotShortenTheLease(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	m := memlock.New(&memlock.Options{Clock: fc})
	lk, err := lock.New(slowQueue{m, fc, 3 * time.Second}, &lock.Options{Clock: fc, TTL: time.Second, Wait: lock.WaitNative})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lk.Acquire(context.Background(), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(context.Background())
	if err := l.Err(); err != nil {
		t.Fatalf("lease lost as it was granted after a 3s queue wait: %v", err)
	}
	if isClosed(l.Done()) {
		t.Fatal("Done() closed as the lease was granted")
	}
	if until := l.ValidUntil(); until.Sub(fc.Now()) < 800*time.Millisecond {
		t.Fatalf("ValidUntil %v is only %v ahead of now", until, until.Sub(fc.Now()))
	}
}

// A permanent (non-retryable) error ends Acquire at once, even while the
// key is held and Acquire would otherwise wait, and even with a long
// context: it must not sit out the deadline.
func TestAcquireFailsFastOnPermanentError(t *testing.T) {
	f := newFixture(t, &lock.Options{Wait: lock.WaitPoll})
	boom := errors.New("permission denied")
	f.m.FailNext(memlock.ErrTransient, boom)
	got := make(chan error, 1)
	go func() {
		_, err := f.lk.Acquire(context.Background(), "k", nil)
		got <- err
	}()
	// Bounded by real time, not by a count of steps: on a loaded machine a
	// thousand steps can pass before the goroutine first runs (seen).
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-got:
			if !errors.Is(err, boom) {
				t.Fatalf("Acquire = %v, want the permanent error", err)
			}
			return
		case <-time.After(time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("Acquire did not return after a permanent error")
			}
			f.step(t, 10*time.Millisecond)
		}
	}
}

// When ctx ends while Acquire retries transient errors, the error wraps
// both the context's error and the last engine error.
func TestAcquireDeadlineJoinsLastEngineError(t *testing.T) {
	f := newFixture(t, &lock.Options{Wait: lock.WaitPoll})
	errs := make([]error, 50)
	for i := range errs {
		errs[i] = memlock.ErrTransient
	}
	f.m.FailNext(errs...)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := f.lk.Acquire(ctx, "k", nil)
		got <- err
	}()
	// Wait until Acquire sleeps in its backoff after a failed attempt.
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer bcancel()
	if err := f.fc.BlockUntil(bctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	err := <-got
	if !errors.Is(err, context.Canceled) || !errors.Is(err, memlock.ErrTransient) {
		t.Fatalf("Acquire = %v, want context.Canceled joined with the last engine error", err)
	}
}

// NewInMemory wires memlock to the Locker's clock in one call.
func TestNewInMemory(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	lk, err := lock.NewInMemory(&lock.Options{Clock: fc, TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := lk.TryAcquire(ctx, "k", &lock.AcquireOptions{NoRenew: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lk.TryAcquire(ctx, "k", nil); !errors.Is(err, lock.ErrLocked) {
		t.Fatalf("second TryAcquire = %v, want ErrLocked", err)
	}
	fc.Advance(2 * time.Second) // the backend expires the lease on the same clock
	if _, err := lk.TryAcquire(ctx, "k", nil); err != nil {
		t.Fatalf("TryAcquire after the lease's TTL on the fake clock: %v", err)
	}
	_ = l
}
