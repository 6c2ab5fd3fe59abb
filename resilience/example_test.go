package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/resilience"
)

// A breaker around a function: two failures open it, and the calls it then
// refuses are rejections — never counted as failures.
func ExampleBreaker() {
	b, _ := resilience.NewBreaker(&resilience.BreakerOptions{Name: "payments", FailureThreshold: 2})
	down := errors.New("connection refused")
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		err := b.Execute(ctx, func(context.Context) error { return down })
		fmt.Printf("call %d: rejected=%v state=%v\n", i+1, resilience.IsRejection(err), b.State())
	}
	fmt.Println("failures counted:", b.Counts().TotalFailures)
	// Output:
	// call 1: rejected=false state=closed
	// call 2: rejected=false state=open
	// call 3: rejected=true state=open
	// call 4: rejected=true state=open
	// failures counted: 0
}

// A retry policy sharing a budget: during an outage the budget, not
// MaxAttempts, bounds how many extra attempts the calls make.
func ExampleRetry() {
	budget, _ := resilience.NewRetryBudget(&resilience.RetryBudgetOptions{Ratio: 0.1, NoMinimum: true, Burst: 2})
	r, _ := resilience.NewRetry(&resilience.RetryOptions{MaxAttempts: 3, InitialBackoff: time.Microsecond, Budget: budget})
	attempts := 0
	for call := 0; call < 10; call++ {
		_ = r.Execute(context.Background(), func(context.Context) error {
			attempts++
			return errors.New("unavailable")
		})
	}
	fmt.Println("calls: 10, attempts:", attempts)
	// Output:
	// calls: 10, attempts: 12
}

// An adaptive limiter with priorities: at a limit of 10, Low work may
// fill 7 slots, and Critical work is never refused.
func ExampleAdaptiveLimiter() {
	l, _ := resilience.NewAdaptiveLimiter(&resilience.LimiterOptions{Initial: 10, Min: 10, Max: 10})
	ctx := context.Background()
	admitted := map[resilience.Priority]int{}
	for _, p := range []resilience.Priority{resilience.Low, resilience.Normal, resilience.High, resilience.Critical} {
		for i := 0; i < 12; i++ {
			if _, ok := l.Acquire(ctx, p); ok {
				admitted[p]++
			}
		}
	}
	fmt.Println(admitted[resilience.Low], admitted[resilience.Normal], admitted[resilience.High], admitted[resilience.Critical])
	// Output:
	// 7 2 1 12
}
