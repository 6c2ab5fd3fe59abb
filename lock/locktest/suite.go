package locktest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
)

// Run runs the conformance suite against the backend described by h, each
// property as a named sub-test, always through package lock's Locker.
//
// When the backend reaches a shared engine (h.ChildEnv is set), Run also
// starts copies of the test binary that play other lock holders; in such a
// child process Run plays that part and returns, so the caller's test
// function must call Run unconditionally.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("locktest: Harness.New is nil")
	}
	if h.TTL <= 0 {
		h.TTL = 500 * time.Millisecond
	}
	s := &suite{Harness: h, top: strings.SplitN(t.Name(), "/", 2)[0]}
	switch testenv.ChildRole() {
	case roleMutex:
		s.childMutex(t)
		return
	case rolePaused:
		s.childPaused(t)
		return
	}

	t.Run("BadInput", s.testBadInput)
	t.Run("TryAcquireAndRelease", s.testTryAcquireAndRelease)
	t.Run("ReleaseByNonHolderIsRefused", s.testReleaseByNonHolder)
	t.Run("RetriedAcquireKeepsToken", s.testRetriedAcquire)
	t.Run("TTLExpiryFreesTheLock", s.testExpiry)
	t.Run("RenewalKeepsTheLock", s.testRenewal)
	t.Run("ManualRenew", s.testManualRenew)
	t.Run("AcquireWaitsForRelease", s.testAcquireWaits)
	t.Run("CancelWhileWaitingLeavesNoWaiter", s.testCancelWaiting)
	t.Run("FencingTokensIncrease", s.testTokensIncrease)
	t.Run("FencingTokensSurviveRestart", s.testTokensSurviveRestart)
	t.Run("DoneClosesWhenKeyDropped", s.testDoneOnDrop)
	t.Run("DoneClosesWhenNotRenewed", s.testDoneNotRenewed)
	t.Run("Election", s.testElection)
	t.Run("MutualExclusionGoroutines", s.testMutexGoroutines)
	t.Run("MutualExclusionProcesses", s.testMutexProcesses)
	t.Run("PausedHolderIsFenced", s.testPausedHolder)
}

func (s *suite) testBadInput(t *testing.T) {
	lk := s.locker(t)
	ctx := context.Background()
	if _, err := lk.TryAcquire(ctx, "", nil); !errors.Is(err, lock.ErrInvalidKey) {
		t.Errorf("TryAcquire with an empty key = %v, want ErrInvalidKey", err)
	}
	if _, err := lk.Acquire(ctx, "", nil); !errors.Is(err, lock.ErrInvalidKey) {
		t.Errorf("Acquire with an empty key = %v, want ErrInvalidKey", err)
	}
	max := lock.DefaultMaxKeyLen
	if l, ok := s.New(t).(driver.Limited); ok && l.Limits().MaxKeyLen > 0 {
		max = l.Limits().MaxKeyLen
	}
	if _, err := lk.TryAcquire(ctx, strings.Repeat("k", max+1), nil); !errors.Is(err, lock.ErrInvalidKey) {
		t.Errorf("TryAcquire with a key of %d bytes (limit %d) = %v, want ErrInvalidKey", max+1, max, err)
	}
	k := key(t)
	for _, o := range []*lock.AcquireOptions{
		{TTL: -time.Second},
		{TTL: time.Nanosecond},
		{RenewEvery: -time.Second},
		{TTL: time.Second, RenewEvery: 2 * time.Second},
	} {
		if l, err := lk.TryAcquire(ctx, k, o); !errors.Is(err, lock.ErrInvalidTTL) {
			if err == nil {
				_ = l.Release(ctx)
			}
			t.Errorf("TryAcquire with %+v = %v, want ErrInvalidTTL", *o, err)
		}
	}
	if _, err := lock.New(s.New(t), &lock.Options{TTL: -1}); !errors.Is(err, lock.ErrInvalidTTL) {
		t.Errorf("lock.New with a negative TTL = %v, want ErrInvalidTTL", err)
	}
	if _, err := lock.New(nil, nil); err == nil {
		t.Error("lock.New with a nil driver succeeded")
	}
}

func (s *suite) testTryAcquireAndRelease(t *testing.T) {
	ctx := context.Background()
	a, b := s.locker(t), s.locker(t)
	k := key(t)
	l := mustAcquire(t, a, k, &lock.AcquireOptions{Meta: "holder-a"})
	if l.Key() != k {
		t.Errorf("Key() = %q, want %q", l.Key(), k)
	}
	if err := l.Err(); err != nil {
		t.Errorf("Err() of a held lease = %v", err)
	}
	expectLocked(t, b, k, "another lease holds it")
	h, held, err := b.Holder(ctx, k)
	if err != nil || !held {
		t.Fatalf("Holder(%q) while held = %+v, %v, %v", k, h, held, err)
	}
	if h.Owner != l.Owner() || h.Meta != "holder-a" || h.Token != l.Token() {
		t.Errorf("Holder = %+v, want owner %q, meta holder-a, token %d", h, l.Owner(), l.Token())
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if !closed(l.Done()) {
		t.Error("Done() not closed after Release")
	}
	if err := l.Err(); !errors.Is(err, lock.ErrReleased) {
		t.Errorf("Err() after Release = %v, want ErrReleased", err)
	}
	if err := l.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("second Release = %v, want ErrNotHeld", err)
	}
	if _, held, err := b.Holder(ctx, k); err != nil || held {
		t.Errorf("Holder after Release: held=%v err=%v, want free", held, err)
	}
	l2 := mustAcquire(t, b, k, nil)
	if l2.Token() <= l.Token() {
		t.Errorf("token after re-acquisition %d, want > %d", l2.Token(), l.Token())
	}
	_ = l2.Release(ctx)
}

func (s *suite) testReleaseByNonHolder(t *testing.T) {
	ctx := context.Background()
	d := s.New(t)
	lk := s.lockerOn(t, d)
	k := key(t)
	l := mustAcquire(t, lk, k, nil)
	defer l.Release(ctx)
	if err := d.Release(ctx, k, "not-the-owner"); !errors.Is(err, driver.ErrNotHeld) {
		t.Fatalf("driver Release by a non-holder = %v, want ErrNotHeld", err)
	}
	if err := d.Renew(ctx, k, "not-the-owner", s.TTL); !errors.Is(err, driver.ErrNotHeld) {
		t.Fatalf("driver Renew by a non-holder = %v, want ErrNotHeld", err)
	}
	if err := d.Release(ctx, key(t), "nobody"); !errors.Is(err, driver.ErrNotHeld) {
		t.Fatalf("driver Release of a free key = %v, want ErrNotHeld", err)
	}
	expectLocked(t, s.locker(t), k, "a non-holder tried to release it")
	if err := l.Renew(ctx); err != nil {
		t.Fatalf("the holder's Renew after a refused foreign release: %v", err)
	}
}

func (s *suite) testRetriedAcquire(t *testing.T) {
	ctx := context.Background()
	d := s.New(t)
	k := key(t)
	req := driver.Request{Key: k, Owner: "retry-owner", TTL: s.TTL}
	t1, err := d.TryAcquire(ctx, req)
	if err != nil {
		t.Fatalf("TryAcquire: %v", err)
	}
	t2, err := d.TryAcquire(ctx, req)
	if err != nil || t2 != t1 {
		t.Fatalf("repeated TryAcquire by the same owner = %d, %v; want the same token %d", t2, err, t1)
	}
	if err := d.Release(ctx, k, req.Owner); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

func (s *suite) testExpiry(t *testing.T) {
	ctx := context.Background()
	a, b := s.locker(t), s.locker(t)
	k := key(t)
	l := mustAcquire(t, a, k, &lock.AcquireOptions{NoRenew: true})
	expectLocked(t, b, k, "a fresh lease holds it")
	var l2 *lock.Lease
	s.eventually(t, 2*s.TTL, "another holder acquires after the TTL", func() bool {
		var err error
		l2, err = b.TryAcquire(ctx, k, nil)
		return err == nil
	})
	defer l2.Release(ctx)
	if !closed(l.Done()) {
		t.Error("the expired lease's Done() is open while another holds the key")
	}
	if err := l.Err(); !errors.Is(err, lock.ErrLeaseLost) {
		t.Errorf("Err() of the expired lease = %v, want ErrLeaseLost", err)
	}
	if l2.Token() <= l.Token() {
		t.Errorf("token after expiry %d, want > %d", l2.Token(), l.Token())
	}
	if err := l.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("Release of the expired lease = %v, want ErrNotHeld", err)
	}
}

func (s *suite) testRenewal(t *testing.T) {
	ctx := context.Background()
	a, b := s.locker(t), s.locker(t)
	k := key(t)
	l := mustAcquire(t, a, k, nil)
	s.pass(t, 2*s.TTL)
	if err := l.Err(); err != nil {
		t.Fatalf("lease lost although renewed in the background every %v (TTL %v): %v", s.TTL/3, s.TTL, err)
	}
	expectLocked(t, b, k, "its holder keeps renewing")
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release after renewals: %v", err)
	}
}

func (s *suite) testManualRenew(t *testing.T) {
	ctx := context.Background()
	a, b := s.locker(t), s.locker(t)
	k := key(t)
	l := mustAcquire(t, a, k, &lock.AcquireOptions{NoRenew: true})
	for i := 0; i < 3; i++ {
		s.pass(t, s.TTL/2)
		if err := l.Renew(ctx); err != nil {
			t.Fatalf("Renew %d: %v", i, err)
		}
	}
	expectLocked(t, b, k, "renewed by hand")
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := l.Renew(ctx); !errors.Is(err, lock.ErrReleased) {
		t.Errorf("Renew after Release = %v, want ErrReleased", err)
	}
}

func (s *suite) testAcquireWaits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := s.locker(t), s.locker(t)
	k := key(t)
	l := mustAcquire(t, a, k, nil)
	got := make(chan *lock.Lease, 1)
	errc := make(chan error, 1)
	go func() {
		l2, err := b.Acquire(ctx, k, nil)
		if err != nil {
			errc <- err
			return
		}
		got <- l2
	}()
	select {
	case l2 := <-got:
		t.Fatalf("Acquire returned token %d while the key was held", l2.Token())
	case err := <-errc:
		t.Fatalf("Acquire: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	var l2 *lock.Lease
	s.eventually(t, 2*s.TTL, "the waiter gets the lock after the release", func() bool {
		select {
		case l2 = <-got:
			return true
		case err := <-errc:
			t.Fatalf("Acquire: %v", err)
		default:
		}
		return false
	})
	if l2.Token() <= l.Token() {
		t.Errorf("waiter's token %d, want > %d", l2.Token(), l.Token())
	}
	_ = l2.Release(ctx)
}

func (s *suite) testCancelWaiting(t *testing.T) {
	ctx := context.Background()
	a, b, c := s.locker(t), s.locker(t), s.locker(t)
	k := key(t)
	l := mustAcquire(t, a, k, nil)
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	l2, err := b.Acquire(wctx, k, nil)
	if err == nil {
		t.Fatalf("Acquire of a held key returned token %d", l2.Token())
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire cancelled while waiting = %v, want context.DeadlineExceeded", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	var l3 *lock.Lease
	s.eventually(t, s.TTL, "a third holder acquires after the release", func() bool {
		l3, err = c.TryAcquire(ctx, k, nil)
		return err == nil
	})
	// The cancelled waiter must not hold or take the key later on.
	s.pass(t, s.TTL)
	h, held, err := c.Holder(ctx, k)
	switch {
	case err != nil:
		t.Fatalf("Holder: %v", err)
	case held && h.Owner != l3.Owner():
		t.Fatalf("after the cancelled wait, Holder = %+v; want the third holder %q", h, l3.Owner())
	case !held && l3.Err() == nil:
		t.Fatalf("the key is free although the third holder's lease %q is live", l3.Owner())
	}
	_ = l3.Release(ctx)
}

func (s *suite) testTokensIncrease(t *testing.T) {
	ctx := context.Background()
	lks := []*lock.Locker{s.locker(t), s.locker(t)}
	k := key(t)
	last := int64(0)
	expired := false
	for i := 0; i < 5; i++ {
		var l *lock.Lease
		if expired {
			// The previous holder left its lease to expire.
			s.eventually(t, 2*s.TTL, "acquire after the previous lease expired", func() bool {
				var err error
				l, err = lks[i%2].TryAcquire(ctx, k, nil)
				return err == nil
			})
		} else {
			l = mustAcquire(t, lks[i%2], k, nil)
		}
		if l.Token() <= last {
			t.Fatalf("acquisition %d got token %d after %d; tokens must strictly increase", i, l.Token(), last)
		}
		last = l.Token()
		expired = i == 1
		if expired {
			if err := l.Release(ctx); err != nil { // stop renewal, then take the key again and let that expire
				t.Fatalf("Release: %v", err)
			}
			nr := mustAcquire(t, lks[i%2], k, &lock.AcquireOptions{NoRenew: true})
			if nr.Token() <= last {
				t.Fatalf("token %d after %d; tokens must strictly increase", nr.Token(), last)
			}
			last = nr.Token()
			continue
		}
		if err := l.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	other := key(t)
	lo := mustAcquire(t, lks[0], other, nil)
	_ = lo.Release(ctx)
}

func (s *suite) testTokensSurviveRestart(t *testing.T) {
	if s.Restart == nil || !s.TokensSurviveRestart {
		t.Skip("the backend does not promise tokens across an engine restart (Harness.Restart / TokensSurviveRestart unset)")
	}
	ctx := context.Background()
	k := key(t)
	l := mustAcquire(t, s.locker(t), k, &lock.AcquireOptions{NoRenew: true})
	before := l.Token()
	_ = l.Release(ctx)
	s.Restart(t)
	var l2 *lock.Lease
	lk := s.locker(t)
	s.eventually(t, 10*time.Second, "acquire after the engine restarted", func() bool {
		var err error
		l2, err = lk.TryAcquire(ctx, k, nil)
		return err == nil
	})
	if l2.Token() <= before {
		t.Fatalf("token after the restart %d, want > %d (the token before)", l2.Token(), before)
	}
	_ = l2.Release(ctx)
}

func (s *suite) testDoneOnDrop(t *testing.T) {
	if s.DropKey == nil {
		t.Skip("Harness.DropKey unset")
	}
	ctx := context.Background()
	a := s.locker(t)
	k := key(t)
	l := mustAcquire(t, a, k, nil)
	s.DropKey(t, k)
	s.eventually(t, 2*s.TTL, "Done closes after the engine dropped the key", func() bool { return closed(l.Done()) })
	if err := l.Err(); !errors.Is(err, lock.ErrLeaseLost) {
		t.Errorf("Err() after the key was dropped = %v, want ErrLeaseLost", err)
	}
	if err := l.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("Release of the lost lease = %v, want ErrNotHeld", err)
	}
}

// testDoneNotRenewed is the in-process form of a holder paused past its
// TTL: nothing renews the lease, so it must report the loss on its own,
// no later than the engine frees the key.
func (s *suite) testDoneNotRenewed(t *testing.T) {
	ctx := context.Background()
	a, b := s.locker(t), s.locker(t)
	k := key(t)
	l := mustAcquire(t, a, k, &lock.AcquireOptions{NoRenew: true})
	s.eventually(t, 2*s.TTL, "Done closes once the lease's validity ran out", func() bool { return closed(l.Done()) })
	if err := l.Err(); !errors.Is(err, lock.ErrLeaseLost) {
		t.Errorf("Err() = %v, want ErrLeaseLost", err)
	}
	if time.Until(l.ValidUntil()) > 0 && !s.fake() {
		t.Errorf("Done closed before ValidUntil %v", l.ValidUntil())
	}
	var l2 *lock.Lease
	s.eventually(t, 2*s.TTL, "another holder acquires", func() bool {
		var err error
		l2, err = b.TryAcquire(ctx, k, nil)
		return err == nil
	})
	if err := l.Renew(ctx); !errors.Is(err, lock.ErrLeaseLost) {
		t.Errorf("Renew of the lost lease = %v, want ErrLeaseLost", err)
	}
	_ = l2.Release(ctx)
}
