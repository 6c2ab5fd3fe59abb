package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/resilience"
)

var errBackend = errors.New("backend failed")

func TestClassify(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	notFound := errors.New("not found")
	isFailure := func(err error) bool { return !errors.Is(err, notFound) }
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want resilience.Outcome
	}{
		{"nil", context.Background(), nil, resilience.Success},
		{"nil after cancel", cancelled, nil, resilience.Success},
		{"error", context.Background(), errBackend, resilience.Failure},
		{"error, no ctx", nil, errBackend, resilience.Failure},
		{"declined by IsFailure", context.Background(), notFound, resilience.Success},
		{"caller cancelled", cancelled, errBackend, resilience.Ignored},
		{"context.Canceled without ctx", nil, fmt.Errorf("send: %w", context.Canceled), resilience.Ignored},
		{"attempt deadline is a failure", context.Background(), context.DeadlineExceeded, resilience.Failure},
		{"breaker rejection", context.Background(), &resilience.RejectedError{Policy: "b", Err: resilience.ErrOpenState}, resilience.Ignored},
		{"raw gobreaker rejection", nil, resilience.ErrTooManyRequests, resilience.Ignored},
		{"limiter rejection", nil, &resilience.RejectedError{Policy: "l", Err: resilience.ErrLimitExceeded}, resilience.Ignored},
	} {
		if got := resilience.Classify(tc.ctx, tc.err, isFailure); got != tc.want {
			t.Errorf("%s: Classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// newBreaker returns a breaker opened by two consecutive failures and
// open for 20 ms (gobreaker keeps real time).
func newBreaker(t *testing.T, halfOpen uint32) *resilience.Breaker {
	t.Helper()
	b, err := resilience.NewBreaker(&resilience.BreakerOptions{Name: t.Name(), FailureThreshold: 2,
		Timeout: 20 * time.Millisecond, HalfOpenRequests: halfOpen})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitState polls (gobreaker reads time.Now itself) until b is in state s.
func waitState(t *testing.T, b *resilience.Breaker, s resilience.State) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); b.State() != s; {
		if time.Now().After(deadline) {
			t.Fatalf("breaker state %v, want %v", b.State(), s)
		}
		time.Sleep(time.Millisecond)
	}
}

func fail(context.Context) error { return errBackend }
func ok(context.Context) error   { return nil }

func TestBreakerRejectionNotCounted(t *testing.T) {
	ctx := context.Background()
	b := newBreaker(t, 1)
	_ = b.Execute(ctx, fail)
	_ = b.Execute(ctx, fail)
	if b.State() != resilience.StateOpen {
		t.Fatalf("state %v after 2 failures, want open", b.State())
	}
	called := false
	for i := 0; i < 100; i++ {
		err := b.Execute(ctx, func(context.Context) error { called = true; return nil })
		var re *resilience.RejectedError
		if !errors.As(err, &re) || !errors.Is(err, resilience.ErrOpenState) || !errors.Is(err, resilience.ErrRejected) {
			t.Fatalf("open breaker returned %v, want a RejectedError wrapping ErrOpenState", err)
		}
	}
	if called {
		t.Fatal("open breaker ran the function")
	}
	if c := b.Counts(); c.Requests != 0 || c.TotalFailures != 0 {
		t.Fatalf("rejections were counted: %+v", c)
	}
	// Rejections while open must not re-trip it: the first trial closes it.
	waitState(t, b, resilience.StateHalfOpen)
	if err := b.Execute(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if b.State() != resilience.StateClosed {
		t.Fatalf("state %v after a successful trial, want closed", b.State())
	}
	// A rejection from a policy below (say, a nested breaker) is no failure.
	for i := 0; i < 5; i++ {
		_ = b.Execute(ctx, func(context.Context) error {
			return &resilience.RejectedError{Policy: "inner", Err: resilience.ErrLimitExceeded}
		})
	}
	if b.State() != resilience.StateClosed || b.Counts().TotalFailures != 0 {
		t.Fatalf("inner rejections counted as failures: %v %+v", b.State(), b.Counts())
	}
}

func TestBreakerCancelledHalfOpenProbe(t *testing.T) {
	b := newBreaker(t, 1)
	ctx := context.Background()
	_ = b.Execute(ctx, fail)
	_ = b.Execute(ctx, fail)
	waitState(t, b, resilience.StateHalfOpen)

	// The one trial call is in flight: a second caller is refused.
	cctx, cancel := context.WithCancel(ctx)
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- b.Execute(cctx, func(ctx context.Context) error {
			close(started)
			<-release
			return ctx.Err()
		})
	}()
	<-started
	if err := b.Execute(ctx, ok); !errors.Is(err, resilience.ErrTooManyRequests) {
		t.Fatalf("second half-open call: %v, want ErrTooManyRequests", err)
	}
	// The trial's caller gives up: neither a success nor a failure.
	cancel()
	close(release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled trial returned %v", err)
	}
	if s := b.State(); s != resilience.StateHalfOpen {
		t.Fatalf("state %v after a cancelled trial, want still half-open", s)
	}
	if c := b.Counts(); c.TotalExclusions != 1 || c.TotalSuccesses != 0 || c.TotalFailures != 0 {
		t.Fatalf("counts %+v, want one exclusion", c)
	}
	// The slot is free again, and a real success closes the breaker.
	if err := b.Execute(ctx, ok); err != nil {
		t.Fatalf("trial after the cancelled one: %v", err)
	}
	if s := b.State(); s != resilience.StateClosed {
		t.Fatalf("state %v, want closed", s)
	}
}

func TestBreakerCallerDeadlineAndPanic(t *testing.T) {
	b := newBreaker(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	for i := 0; i < 5; i++ {
		_ = b.Execute(ctx, func(ctx context.Context) error { return ctx.Err() })
	}
	if b.State() != resilience.StateClosed || b.Counts().TotalFailures != 0 {
		t.Fatalf("the caller's deadline counted as failures: %+v", b.Counts())
	}
	_ = b.Execute(context.Background(), fail)
	_ = b.Execute(context.Background(), fail)
	waitState(t, b, resilience.StateHalfOpen)
	func() {
		defer func() { _ = recover() }()
		_ = b.Execute(context.Background(), func(context.Context) error { panic("boom") })
	}()
	if err := b.Execute(context.Background(), ok); err != nil {
		t.Fatalf("a panicking trial kept the slot: %v", err)
	}
	if b.State() != resilience.StateClosed {
		t.Fatalf("state %v, want closed", b.State())
	}
}

// TestBreakerRecoversUnderLoad hammers a breaker from several goroutines
// while the backend is down, then up: the breaker must close again even
// though most calls during the outage were rejections.
func TestBreakerRecoversUnderLoad(t *testing.T) {
	b := newBreaker(t, 2)
	var mu sync.Mutex
	down := true
	backend := func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return errBackend
		}
		return nil
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = b.Execute(context.Background(), backend)
			}
		}()
	}
	waitState(t, b, resilience.StateOpen)
	mu.Lock()
	down = false
	mu.Unlock()
	waitState(t, b, resilience.StateClosed)
	close(stop)
	wg.Wait()
}

func TestBreakerBadOptionsAndNil(t *testing.T) {
	if _, err := resilience.NewBreaker(&resilience.BreakerOptions{Timeout: -1}); !errors.Is(err, resilience.ErrInvalidOption) {
		t.Fatalf("negative Timeout: %v", err)
	}
	var b *resilience.Breaker
	p, err := b.Allow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Done(resilience.Failure) // no-op
	if err := b.Execute(context.Background(), fail); !errors.Is(err, errBackend) {
		t.Fatalf("nil breaker Execute: %v", err)
	}
}
