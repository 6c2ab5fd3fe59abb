package resilience_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/scalekit-go/scalekit/resilience"
)

func BenchmarkBreakerAllowDone(b *testing.B) {
	br, _ := resilience.NewBreaker(&resilience.BreakerOptions{MeterProvider: noop.NewMeterProvider()})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, err := br.Allow(ctx)
			if err != nil {
				b.Fatal(err)
			}
			p.Done(resilience.Success)
		}
	})
}

func BenchmarkBudgetDepositWithdraw(b *testing.B) {
	bu, _ := resilience.NewRetryBudget(&resilience.RetryBudgetOptions{MeterProvider: noop.NewMeterProvider()})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		bu.Deposit()
		if i%10 == 0 {
			bu.Withdraw()
		}
	}
}

func BenchmarkLimiterAcquireRelease(b *testing.B) {
	l, _ := resilience.NewAdaptiveLimiter(&resilience.LimiterOptions{Initial: 1000, Max: 1000, MeterProvider: noop.NewMeterProvider()})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if tok, ok := l.Acquire(ctx, resilience.Normal); ok {
				tok.Release()
			}
		}
	})
}

func BenchmarkRetryExecuteSuccess(b *testing.B) {
	r, _ := resilience.NewRetry(&resilience.RetryOptions{MeterProvider: noop.NewMeterProvider()})
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = r.Execute(ctx, fn)
	}
}
