package locktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lock"
)

// testElection checks leader election on the backend: one leader at a
// time, Observe reports changes, Resign hands over, and a leader whose
// lease is lost stops being the leader.
func (s *suite) testElection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k := key(t)
	newCandidate := func() *lock.Election {
		e, err := lock.NewElection(s.locker(t), k, &lock.ElectionOptions{ObserveEvery: s.TTL / 10})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b, watcher := newCandidate(), newCandidate(), newCandidate()
	if _, held, err := watcher.Leader(ctx); err != nil || held {
		t.Fatalf("Leader before any campaign: held=%v err=%v", held, err)
	}
	if err := a.Resign(ctx); !errors.Is(err, lock.ErrNotLeader) {
		t.Fatalf("Resign without leading = %v, want ErrNotLeader", err)
	}
	la, err := a.Campaign(ctx, "a:1")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := a.Campaign(ctx, "a:1"); err != nil || (again != la && la.Err() == nil) {
		t.Fatalf("second Campaign of the live leader = %v, %v; want its lease", again, err)
	} else if again != la {
		// The first term was lost meanwhile (a stalled machine): go on
		// with the second.
		la = again
	}
	obs := watcher.Observe(ctx)
	next := func(what string) lock.Holder {
		t.Helper()
		var h lock.Holder
		s.eventually(t, 2*s.TTL, what, func() bool {
			select {
			case h = <-obs:
				return true
			default:
				return false
			}
		})
		return h
	}
	if h := next("Observe reports the first leader"); h.Meta != "a:1" || h.Token != la.Token() {
		t.Fatalf("Observe = %+v, want a:1 with token %d", h, la.Token())
	}

	won := make(chan *lock.Lease, 1)
	go func() {
		l, err := b.Campaign(ctx, "b:1")
		if err != nil {
			t.Error(err)
			close(won)
			return
		}
		won <- l
	}()
	select {
	case <-won:
		t.Fatal("a second candidate won while the first leads")
	case <-time.After(30 * time.Millisecond):
	}
	if !a.IsLeader() || b.IsLeader() {
		t.Fatalf("IsLeader: a=%v b=%v, want only a", a.IsLeader(), b.IsLeader())
	}
	if err := a.Resign(ctx); err != nil {
		t.Fatalf("Resign: %v", err)
	}
	var lb *lock.Lease
	s.eventually(t, 2*s.TTL, "b takes over after a resigned", func() bool {
		select {
		case lb = <-won:
			return true
		default:
			return false
		}
	})
	if lb == nil || lb.Token() <= la.Token() {
		t.Fatalf("b's term %v, want a token above %d", lb, la.Token())
	}
	for {
		h := next("Observe reports the handover")
		if h.Owner == "" {
			continue // the moment between the terms
		}
		if h.Meta != "b:1" || h.Token != lb.Token() {
			t.Fatalf("Observe after the handover = %+v, want b:1 with token %d", h, lb.Token())
		}
		break
	}
	if a.IsLeader() || !b.IsLeader() {
		t.Fatalf("IsLeader: a=%v b=%v, want only b", a.IsLeader(), b.IsLeader())
	}
	if s.DropKey != nil {
		s.DropKey(t, k)
		s.eventually(t, 2*s.TTL, "the leader notices its lease was lost", func() bool { return closed(lb.Done()) })
		if b.IsLeader() {
			t.Fatal("b still leads after losing its lease")
		}
		if err := b.Resign(ctx); !errors.Is(err, lock.ErrNotLeader) {
			t.Fatalf("Resign after losing the lease = %v, want ErrNotLeader", err)
		}
		la2, err := a.Campaign(ctx, "a:2")
		if err != nil {
			t.Fatal(err)
		}
		defer la2.Release(ctx)
		if la2.Token() <= lb.Token() {
			t.Fatalf("a's new term has token %d, want > %d", la2.Token(), lb.Token())
		}
	} else {
		_ = b.Resign(ctx)
	}
	if _, err := lock.NewElection(s.locker(t), "", nil); !errors.Is(err, lock.ErrInvalidKey) {
		t.Fatalf("NewElection with an empty key = %v, want ErrInvalidKey", err)
	}
}
