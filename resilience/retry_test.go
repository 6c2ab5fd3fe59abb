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

func newRetry(t *testing.T, o *resilience.RetryOptions) *resilience.Retry {
	t.Helper()
	r, err := resilience.NewRetry(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRetryRecoversAndStops(t *testing.T) {
	r := newRetry(t, &resilience.RetryOptions{MaxAttempts: 4, InitialBackoff: time.Microsecond})
	var n atomic.Int32
	err := r.Execute(context.Background(), func(context.Context) error {
		if n.Add(1) < 3 {
			return errBackend
		}
		return nil
	})
	if err != nil || n.Load() != 3 {
		t.Fatalf("err %v after %d attempts, want success on the 3rd", err, n.Load())
	}
	n.Store(0)
	if err := r.Execute(context.Background(), func(context.Context) error { n.Add(1); return errBackend }); !errors.Is(err, errBackend) || n.Load() != 4 {
		t.Fatalf("always failing: %v after %d attempts, want errBackend after 4", err, n.Load())
	}
	n.Store(0)
	perm := errors.New("bad request")
	if err := r.Execute(context.Background(), func(context.Context) error { n.Add(1); return resilience.Permanent(perm) }); err != perm || n.Load() != 1 {
		t.Fatalf("permanent: %v after %d attempts", err, n.Load())
	}
}

func TestRetryNeverRetriesRejectionsOrCancellation(t *testing.T) {
	r := newRetry(t, &resilience.RetryOptions{MaxAttempts: 5, InitialBackoff: time.Microsecond})
	var n atomic.Int32
	rej := &resilience.RejectedError{Policy: "b", Err: resilience.ErrOpenState}
	if err := r.Execute(context.Background(), func(context.Context) error { n.Add(1); return rej }); err != rej || n.Load() != 1 {
		t.Fatalf("rejection: %v after %d attempts, want 1", err, n.Load())
	}
	n.Store(0)
	ctx, cancel := context.WithCancel(context.Background())
	err := r.Execute(ctx, func(context.Context) error { n.Add(1); cancel(); return errBackend })
	if !errors.Is(err, errBackend) || n.Load() != 1 {
		t.Fatalf("cancelled caller: %v after %d attempts, want 1", err, n.Load())
	}
}

// retryAfterErr asks for a wait, like a 429 with Retry-After or a gRPC
// RetryInfo.
type retryAfterErr time.Duration

func (e retryAfterErr) Error() string             { return "slow down" }
func (e retryAfterErr) RetryAfter() time.Duration { return time.Duration(e) }

func TestRetryHonoursServerWaitWithFakeClock(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	r := newRetry(t, &resilience.RetryOptions{MaxAttempts: 2, InitialBackoff: time.Nanosecond, MaxRetryAfter: time.Minute, Clock: fake})
	var n atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- r.Execute(context.Background(), func(context.Context) error {
			if n.Add(1) == 1 {
				return retryAfterErr(30 * time.Second)
			}
			return nil
		})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := fake.BlockUntil(ctx, 1); err != nil {
		t.Fatal("the retry never waited")
	}
	fake.Advance(29 * time.Second)
	select {
	case <-done:
		t.Fatal("retried before the asked 30 s")
	default:
	}
	fake.Advance(time.Second)
	if err := <-done; err != nil || n.Load() != 2 {
		t.Fatalf("err %v after %d attempts", err, n.Load())
	}
	// A wait beyond MaxRetryAfter ends the call with the error.
	r2 := newRetry(t, &resilience.RetryOptions{MaxRetryAfter: time.Second, Clock: fake})
	if err := r2.Execute(context.Background(), func(context.Context) error { return retryAfterErr(time.Hour) }); err != retryAfterErr(time.Hour) {
		t.Fatalf("too long a wait: %v", err)
	}
}

func TestRetryNextReasons(t *testing.T) {
	budget, err := resilience.NewRetryBudget(&resilience.RetryBudgetOptions{NoRatio: true, NoMinimum: true, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := newRetry(t, &resilience.RetryOptions{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxRetryAfter: time.Second, Budget: budget})
	ctx := context.Background()
	if _, why := r.Next(ctx, 3, 0); why != resilience.ReasonExhausted {
		t.Errorf("attempt 3 of 3: %v", why)
	}
	if _, why := r.Next(ctx, 1, 2*time.Second); why != resilience.ReasonTooLong {
		t.Errorf("server wait 2s > 1s: %v", why)
	}
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, why := r.Next(dctx, 1, 500*time.Millisecond); why != resilience.ReasonDeadline {
		t.Errorf("wait past deadline: %v", why)
	}
	if budget.Available() < 1 {
		t.Fatal("refusals for other reasons spent the budget")
	}
	if w, why := r.Next(ctx, 1, 0); why != resilience.ReasonSent || w > time.Millisecond {
		t.Errorf("first retry: %v %v", w, why)
	}
	if _, why := r.Next(ctx, 1, 0); why != resilience.ReasonNoBudget {
		t.Errorf("spent budget: %v", why)
	}
}

// TestRetryBudgetCapsAmplification runs calls against a backend in a
// total outage: without a budget every call would make MaxAttempts
// attempts; with one, the extra attempts stay within Burst + Ratio·calls.
func TestRetryBudgetCapsAmplification(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	budget, err := resilience.NewRetryBudget(&resilience.RetryBudgetOptions{Ratio: 0.1, NoMinimum: true, Burst: 5, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	r := newRetry(t, &resilience.RetryOptions{MaxAttempts: 5, InitialBackoff: time.Nanosecond, Budget: budget})
	const calls = 200
	var attempts atomic.Int64
	for i := 0; i < calls; i++ {
		_ = r.Execute(context.Background(), func(context.Context) error { attempts.Add(1); return errBackend })
	}
	extra := attempts.Load() - calls
	if limit := int64(5 + 0.1*calls); extra > limit {
		t.Fatalf("%d extra attempts for %d calls, budget allows %d", extra, calls, limit)
	}
	if perCall := float64(attempts.Load()) / calls; perCall > 1.15 {
		t.Fatalf("%.2f attempts per call during the outage, want ≤ 1.15 (without a budget: 5)", perCall)
	}
	if extra < 20 {
		t.Fatalf("only %d extra attempts: the budget should have allowed about 25", extra)
	}
}

func TestRetryBadOptions(t *testing.T) {
	for _, o := range []*resilience.RetryOptions{{MaxAttempts: -1}, {InitialBackoff: -1}, {Multiplier: 0.5}} {
		if _, err := resilience.NewRetry(o); !errors.Is(err, resilience.ErrInvalidOption) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	for _, o := range []*resilience.RetryBudgetOptions{{Ratio: 2}, {Ratio: -1}, {MinPerSecond: -1}, {Burst: -1}} {
		if _, err := resilience.NewRetryBudget(o); !errors.Is(err, resilience.ErrInvalidOption) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}
