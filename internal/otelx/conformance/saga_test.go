package conformance_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/memsaga"
)

// exerciseSaga produces every scalekit.saga.* instrument and saga span on
// the in-memory log and lock.
func exerciseSaga(ctx context.Context, t *testing.T, e *env) {
	o, err := saga.NewInMemory(&saga.Options{Name: "checkout", MeterProvider: e.mp, TracerProvider: e.tp})
	must(t, err)
	fast := saga.Retry{MaxAttempts: 3, Initial: time.Millisecond}
	compensations := 0
	s, err := saga.Register(o, "order", []saga.Step[int]{
		{Name: "reserve", Action: func(context.Context, saga.Call, int) error { return nil },
			Compensate: func(context.Context, saga.Call, int) error {
				compensations++
				if compensations == 1 {
					return errors.New("flaky") // one failed compensation attempt
				}
				return nil
			}, CompensateRetry: fast},
		{Name: "charge", Action: func(_ context.Context, _ saga.Call, amount int) error {
			if amount > 100 {
				return saga.Permanent(errors.New("declined"))
			}
			return nil
		}, Retry: fast},
	})
	must(t, err)
	must(t, s.Run(ctx, "o1", 10))
	if err := s.Run(ctx, "o2", 1000); !errors.Is(err, saga.ErrCompensated) {
		t.Fatalf("declined saga: %v, want ErrCompensated", err)
	}

	c, err := saga.NewCoordinator(memsaga.New(nil), &saga.CoordinatorOptions{Name: "transfer",
		Retry: fast, MeterProvider: e.mp, TracerProvider: e.tp})
	must(t, err)
	ok := func(context.Context, string) error { return nil }
	must(t, c.Do(ctx, "tx1", saga.TCC{Resource: "accounts", Try: ok, Confirm: ok, Cancel: ok}))
	refuse := func(context.Context, string) error { return saga.Permanent(errors.New("insufficient funds")) }
	if err := c.Do(ctx, "tx2", saga.TCC{Resource: "accounts", Try: refuse, Confirm: ok, Cancel: ok}); err == nil {
		t.Fatal("transaction with a refused prepare committed")
	}
}
