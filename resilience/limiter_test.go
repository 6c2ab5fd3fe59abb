package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/resilience"
)

func newLimiter(t *testing.T, o *resilience.LimiterOptions) *resilience.AdaptiveLimiter {
	t.Helper()
	l, err := resilience.NewAdaptiveLimiter(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLimiterPriorities fills a limit of 10 with each priority in turn:
// Low stops at 7, Normal at 9, High at 10, and Critical is never refused.
func TestLimiterPriorities(t *testing.T) {
	ctx := context.Background()
	l := newLimiter(t, &resilience.LimiterOptions{Initial: 10, Min: 10, Max: 10})
	var held []resilience.Token
	admit := func(p resilience.Priority) int {
		n := 0
		for i := 0; i < 20; i++ {
			tok, ok := l.Acquire(ctx, p)
			if !ok {
				break
			}
			held = append(held, tok)
			n++
		}
		return n
	}
	if n := admit(resilience.Low); n != 7 {
		t.Fatalf("Low admitted %d of a limit of 10, want 7", n)
	}
	if n := admit(resilience.Normal); n != 2 {
		t.Fatalf("Normal admitted %d more, want 2 (to 9)", n)
	}
	if _, ok := l.Acquire(ctx, resilience.Low); ok {
		t.Fatal("Low admitted above its share")
	}
	if n := admit(resilience.High); n != 1 {
		t.Fatalf("High admitted %d more, want 1 (to 10)", n)
	}
	if n := admit(resilience.Critical); n != 20 {
		t.Fatalf("Critical admitted %d, want all 20", n)
	}
	for _, tok := range held {
		tok.Release()
	}
	if l.InFlight() != 0 {
		t.Fatalf("in flight %d after release", l.InFlight())
	}
}

func TestLimiterExecuteRejectsAndIgnoresCancelled(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	l := newLimiter(t, &resilience.LimiterOptions{Initial: 2, Min: 1, Max: 2, Algorithm: &resilience.AIMD{}, Clock: fake})
	ctx := resilience.WithPriority(context.Background(), resilience.High)
	block := make(chan struct{})
	started := make(chan struct{}, 2)
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			errs <- l.Execute(ctx, func(context.Context) error { started <- struct{}{}; <-block; return nil })
		}()
	}
	<-started
	<-started
	err := l.Execute(ctx, ok)
	if !errors.Is(err, resilience.ErrLimitExceeded) || !resilience.IsRejection(err) {
		t.Fatalf("third call over a limit of 2: %v", err)
	}
	if resilience.Classify(ctx, err, nil) != resilience.Ignored {
		t.Fatal("a limiter rejection must not count")
	}
	close(block)
	<-errs
	<-errs
	// A call the caller cancelled frees its slot without a latency sample:
	// even a very slow one does not move the limit.
	before := l.Limit()
	cctx, cancel := context.WithCancel(context.Background())
	_ = l.Execute(cctx, func(ctx context.Context) error { fake.Advance(time.Hour); cancel(); return ctx.Err() })
	if l.Limit() != before || l.InFlight() != 0 {
		t.Fatalf("cancelled call moved the limit %v → %v (in flight %d)", before, l.Limit(), l.InFlight())
	}
	// A slow completed call does (AIMD: above 100 ms multiplies by 0.9).
	_ = l.Execute(context.Background(), func(context.Context) error { fake.Advance(time.Second); return nil })
	if l.Limit() >= before {
		t.Fatalf("slow call left the limit at %v", l.Limit())
	}
}

func TestLimiterAdaptsDownUnderCongestion(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	l := newLimiter(t, &resilience.LimiterOptions{Initial: 50, Min: 2, Max: 100, Clock: fake})
	// Fast samples at full load, then latency rises tenfold.
	run := func(n int, rtt time.Duration) {
		for i := 0; i < n; i++ {
			toks := make([]resilience.Token, 0, int(l.Limit()))
			for {
				tok, ok := l.Acquire(context.Background(), resilience.High)
				if !ok {
					break
				}
				toks = append(toks, tok)
			}
			fake.Advance(rtt)
			for _, tok := range toks {
				tok.Release()
			}
		}
	}
	run(30, 10*time.Millisecond)
	high := l.Limit()
	run(30, 100*time.Millisecond)
	if l.Limit() >= high/2 {
		t.Fatalf("limit %v → %v after latency rose tenfold, want at least halved", high, l.Limit())
	}
}

func TestLimiterBadOptions(t *testing.T) {
	for _, o := range []*resilience.LimiterOptions{{Min: -1}, {Min: 5, Max: 2},
		{Shares: map[resilience.Priority]float64{resilience.Low: 0}}} {
		if _, err := resilience.NewAdaptiveLimiter(o); !errors.Is(err, resilience.ErrInvalidOption) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}
