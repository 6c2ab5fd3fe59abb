package grpcx_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scalekit-go/scalekit/grpcx"
	"github.com/scalekit-go/scalekit/resilience"
)

// A middleware chain used directly (grpcx.Unary and grpcx.Stream turn it
// into interceptors): shedding refuses Low work over the limit with
// ResourceExhausted and a retry delay, and health checks always pass.
func ExampleShed() {
	l, _ := resilience.NewAdaptiveLimiter(&resilience.LimiterOptions{Initial: 1, Min: 1, Max: 1})
	mw := grpcx.Chain(grpcx.Recovery(nil), grpcx.Shed(l, nil, 3*time.Second))
	tok, _ := l.Acquire(context.Background(), resilience.Normal) // the one slot is busy
	defer tok.Release()

	low := resilience.WithPriority(context.Background(), resilience.Low)
	err := mw(low, "/orders.Orders/List", func(context.Context) error { return nil })
	delay, _ := grpcx.RetryDelay(err)
	fmt.Println(status.Code(err), delay)

	err = mw(context.Background(), "/grpc.health.v1.Health/Check", func(context.Context) error { return nil })
	fmt.Println(status.Code(err))
	// Output:
	// ResourceExhausted 3s
	// OK
}

// IsFailure is the balancer's and the client breaker's definition of an
// endpoint failure: application answers are successes.
func ExampleIsFailure() {
	for _, c := range []codes.Code{codes.Unavailable, codes.NotFound, codes.DeadlineExceeded, codes.InvalidArgument} {
		fmt.Println(c, grpcx.IsFailure(status.Error(c, "")))
	}
	// Output:
	// Unavailable true
	// NotFound false
	// DeadlineExceeded true
	// InvalidArgument false
}
