package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
)

// A GCRA limit of 3 requests per hour per user, all three usable at once.
func ExampleLimiter_Allow() {
	lim, err := memrate.New(ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 3, Period: time.Hour, Burst: 3}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		d, err := lim.Allow(ctx, "user:42", 1)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("allowed=%v remaining=%d retry-after=%v\n", d.Allowed, d.Remaining, d.RetryAfter.Round(time.Minute))
	}
	// Output:
	// allowed=true remaining=2 retry-after=0s
	// allowed=true remaining=1 retry-after=0s
	// allowed=true remaining=0 retry-after=0s
	// allowed=false remaining=0 retry-after=20m0s
}

// Wait does not sleep when the wait would pass the context's deadline: it
// fails at once, and the caller can answer 429 immediately.
func ExampleLimiter_Wait() {
	lim, _ := memrate.New(ratelimit.Limit{Algorithm: ratelimit.SlidingLog, Rate: 1, Period: time.Minute}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	fmt.Println(lim.Wait(ctx, "job", 1))
	err := lim.Wait(ctx, "job", 1)
	fmt.Println(errors.Is(err, ratelimit.ErrWouldExceedDeadline))
	// Output:
	// <nil>
	// true
}

// Bad limits and bad calls are errors, never panics.
func ExampleValidate() {
	fmt.Println(ratelimit.Validate(ratelimit.Limit{Algorithm: ratelimit.TokenBucket, Rate: 10, Period: time.Second}))
	lim, _ := memrate.New(ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 10, Period: time.Second}, nil)
	_, err := lim.Allow(context.Background(), "", 1)
	fmt.Println(err)
	_, err = lim.Allow(context.Background(), "k", 11)
	fmt.Println(err)
	// Output:
	// ratelimit: invalid limit: burst must be ≥ 1 for token_bucket, got 0
	// ratelimit: empty key
	// ratelimit: n exceeds the limiter's capacity: n=11 > 10
}
