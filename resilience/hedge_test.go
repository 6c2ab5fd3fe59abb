package resilience_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/resilience"
)

func TestHedgeSecondAttemptWinsAndLoserIsCancelled(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	var events [3]atomic.Int32
	h, err := resilience.NewHedge(&resilience.HedgeOptions{Delay: 10 * time.Millisecond, Clock: fake,
		OnEvent: func(_ context.Context, e resilience.HedgeEvent) { events[e].Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	loserCancelled := make(chan struct{})
	discarded := make(chan string, 1)
	done := make(chan struct{})
	var (
		got   string
		st    resilience.HedgeStats
		dErr  error
		winCx context.CancelFunc
	)
	go func() {
		defer close(done)
		got, winCx, st, dErr = resilience.Do(context.Background(), h, func(ctx context.Context, i int) (string, error) {
			if i == 0 {
				<-ctx.Done() // the slow first attempt: only cancellation ends it
				close(loserCancelled)
				return "", ctx.Err()
			}
			return "hedge", nil
		}, func(v string) { discarded <- v })
	}()
	bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := fake.BlockUntil(bctx, 1); err != nil {
		t.Fatal("hedge timer never armed")
	}
	fake.Advance(10 * time.Millisecond)
	<-done
	if dErr != nil || got != "hedge" || st.Winner != 1 || st.Attempts != 2 {
		t.Fatalf("Do = %q, %+v, %v; want the hedge to win", got, st, dErr)
	}
	winCx()
	select {
	case <-loserCancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the losing attempt was not cancelled")
	}
	if events[resilience.HedgeSent].Load() != 1 || events[resilience.HedgeWon].Load() != 1 {
		t.Fatalf("events sent=%d won=%d", events[resilience.HedgeSent].Load(), events[resilience.HedgeWon].Load())
	}
	select {
	case v := <-discarded:
		t.Fatalf("a failed loser was discarded: %q", v)
	default:
	}
}

func TestHedgeBudgetCapsHedges(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	budget, _ := resilience.NewRetryBudget(&resilience.RetryBudgetOptions{NoRatio: true, NoMinimum: true, Burst: 1, Clock: fake})
	h, err := resilience.NewHedge(&resilience.HedgeOptions{Delay: time.Millisecond, MaxHedges: 3, Budget: budget, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var attempts atomic.Int32
	done := make(chan resilience.HedgeStats, 1)
	go func() {
		_, cancel, st, _ := resilience.Do(context.Background(), h, func(ctx context.Context, i int) (int, error) {
			attempts.Add(1)
			select {
			case <-release:
				return i, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}, nil)
		cancel()
		done <- st
	}()
	bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ { // first tick: hedge sent; second: budget refuses
		if err := fake.BlockUntil(bctx, 1); err != nil {
			t.Fatalf("tick %d: timer not armed", i)
		}
		fake.Advance(time.Millisecond)
		for deadline := time.Now().Add(5 * time.Second); attempts.Load() < 2 && i == 0; {
			if time.Now().After(deadline) {
				t.Fatal("hedge never started")
			}
			time.Sleep(100 * time.Microsecond) // polling a deadline
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if budget.Available() < 1 && len(done) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no budget decision")
		}
		time.Sleep(100 * time.Microsecond)
	}
	close(release)
	st := <-done
	if st.Attempts != 2 || attempts.Load() != 2 {
		t.Fatalf("%+v with %d attempts; want 2: the budget allowed one hedge", st, attempts.Load())
	}
}

func TestHedgeAllFail(t *testing.T) {
	h, _ := resilience.NewHedge(&resilience.HedgeOptions{Delay: time.Microsecond, MaxHedges: 2})
	err := h.Execute(context.Background(), func(context.Context) error { return errBackend })
	if !errors.Is(err, errBackend) {
		t.Fatalf("all attempts failed: %v", err)
	}
	if _, err := resilience.NewHedge(&resilience.HedgeOptions{MaxHedges: -1}); !errors.Is(err, resilience.ErrInvalidOption) {
		t.Fatalf("MaxHedges -1: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	to, err := resilience.NewTimeout(time.Second, &resilience.TimeoutOptions{Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- to.Execute(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := fake.BlockUntil(bctx, 1); err != nil {
		t.Fatal(err)
	}
	fake.Advance(time.Second)
	err = <-done
	var te *resilience.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) || te.Limit != time.Second {
		t.Fatalf("err %v, want a *TimeoutError", err)
	}
	if resilience.Classify(context.Background(), err, nil) != resilience.Failure {
		t.Fatal("a Timeout's own limit must count as a failure of the backend")
	}
	// The caller's cancellation is the caller's error, and ignored.
	cctx, ccancel := context.WithCancel(context.Background())
	err = to.Execute(cctx, func(ctx context.Context) error { ccancel(); return ctx.Err() })
	if err != context.Canceled || resilience.Classify(cctx, err, nil) != resilience.Ignored {
		t.Fatalf("cancelled caller: %v", err)
	}
	// Deadline budget: a call never gets more than its caller has left.
	real, _ := resilience.NewTimeout(time.Hour, &resilience.TimeoutOptions{Reserve: 50 * time.Millisecond})
	dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
	defer dcancel()
	if l := real.Limit(dctx); l > 950*time.Millisecond || l < 900*time.Millisecond {
		t.Fatalf("Limit within a 1 s deadline, reserve 50 ms: %v", l)
	}
	if _, err := resilience.NewTimeout(0, nil); !errors.Is(err, resilience.ErrInvalidOption) {
		t.Fatalf("zero limit: %v", err)
	}
}
