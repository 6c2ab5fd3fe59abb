package conformance_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/resilience"
)

// exerciseResilience produces every scalekit.resilience.* instrument.
func exerciseResilience(ctx context.Context, t *testing.T, e *env) {
	down := errors.New("down")
	b, err := resilience.NewBreaker(&resilience.BreakerOptions{Name: "payments", FailureThreshold: 1, MeterProvider: e.mp})
	must(t, err)
	_ = b.Execute(ctx, func(context.Context) error { return down }) // opens it
	if err := b.Execute(ctx, func(context.Context) error { return nil }); !resilience.IsRejection(err) {
		t.Fatalf("open breaker: %v", err)
	}

	budget, err := resilience.NewRetryBudget(&resilience.RetryBudgetOptions{Name: "payments", NoRatio: true, NoMinimum: true, Burst: 1, MeterProvider: e.mp})
	must(t, err)
	r, err := resilience.NewRetry(&resilience.RetryOptions{Name: "payments", MaxAttempts: 3, InitialBackoff: time.Microsecond,
		Budget: budget, MeterProvider: e.mp})
	must(t, err)
	_ = r.Execute(ctx, func(context.Context) error { return down }) // one retry, then the budget refuses

	h, err := resilience.NewHedge(&resilience.HedgeOptions{Name: "payments", Delay: time.Millisecond, MeterProvider: e.mp})
	must(t, err)
	_, cancel, _, err := resilience.Do(ctx, h, func(ctx context.Context, i int) (int, error) {
		if i == 0 {
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return i, nil
	}, nil)
	must(t, err)
	cancel()

	to, err := resilience.NewTimeout(time.Millisecond, &resilience.TimeoutOptions{Name: "payments", MeterProvider: e.mp})
	must(t, err)
	_ = to.Execute(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })

	l, err := resilience.NewAdaptiveLimiter(&resilience.LimiterOptions{Name: "payments", Initial: 1, Min: 1, Max: 1, MeterProvider: e.mp})
	must(t, err)
	tok, ok := l.Acquire(ctx, resilience.Normal)
	if !ok {
		t.Fatal("first Acquire refused")
	}
	if _, ok := l.Acquire(ctx, resilience.Low); ok {
		t.Fatal("Low Acquire over the limit admitted")
	}
	tok.Release()
	// The gauges hold instances weakly: keep these alive until collection.
	t.Cleanup(func() { runtime.KeepAlive(b); runtime.KeepAlive(l) })
}
