package grpcx_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/scalekit-go/scalekit/grpcx"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
	"github.com/scalekit-go/scalekit/resilience"
)

func serverChain(mws ...grpcx.Middleware) []grpc.ServerOption {
	mw := grpcx.Chain(mws...)
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(grpcx.Unary(mw)), grpc.ChainStreamInterceptor(grpcx.Stream(mw))}
}

func TestRateLimitResourceExhaustedWithRetryDelay(t *testing.T) {
	d, err := memrate.NewDriver(ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 1, Period: 10 * time.Second, Burst: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ratelimit.New(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := startBackend(t, serverChain(grpcx.RateLimit(l, grpcx.KeyByMetadata("x-api-key")))...)
	c := testpb.NewTestServiceClient(dial(t, grpcx.RoundRobinName, []*backend{b}))
	call := func(key string) error {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-api-key", key)
		_, err := c.EmptyCall(ctx, &testpb.Empty{})
		return err
	}
	if err := call("alice"); err != nil {
		t.Fatal(err)
	}
	err = call("alice")
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second call within the limit's period: %v, want ResourceExhausted", err)
	}
	delay, ok := grpcx.RetryDelay(err)
	if !ok || delay <= 9*time.Second || delay > 10*time.Second {
		t.Fatalf("RetryInfo delay %v (present %v), want ≈ 10s", delay, ok)
	}
	if err := call("bob"); err != nil {
		t.Fatalf("another key is limited separately: %v", err)
	}
}

func TestRecoveryDoesNotLeakAndRequestIDEchoes(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	b := startBackend(t, serverChain(grpcx.RequestID(), grpcx.AccessLog(logger), grpcx.Recovery(logger))...)
	b.set(func(context.Context) error { panic("SELECT * FROM secrets WHERE password='hunter2'") })
	c := testpb.NewTestServiceClient(dial(t, grpcx.RoundRobinName, []*backend{b}))
	var header metadata.MD
	ctx := metadata.AppendToOutgoingContext(context.Background(), grpcx.RequestIDKey, "req-42")
	_, err := c.EmptyCall(ctx, &testpb.Empty{}, grpc.Header(&header))
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "SELECT") {
		t.Fatalf("panic answered %v; want a bare Internal", err)
	}
	if got := header.Get(grpcx.RequestIDKey); len(got) != 1 || got[0] != "req-42" {
		t.Fatalf("request id header %v, want req-42", got)
	}
	if !strings.Contains(logs.String(), "hunter2") || !strings.Contains(logs.String(), "request_id=req-42") ||
		!strings.Contains(logs.String(), "grpc.code=Internal") {
		t.Fatalf("the panic and request id belong in the server log:\n%s", logs.String())
	}
	// A hostile id (spaces to forge log fields, oversized) is replaced.
	ctx = metadata.AppendToOutgoingContext(context.Background(), grpcx.RequestIDKey, "x level=ERROR msg=forged"+strings.Repeat("a", 200))
	header = nil
	_, _ = c.EmptyCall(ctx, &testpb.Empty{}, grpc.Header(&header))
	if got := header.Get(grpcx.RequestIDKey); len(got) != 1 || strings.ContainsAny(got[0], " =") || len(got[0]) > 128 {
		t.Fatalf("hostile request id echoed: %q", got)
	}
}

// TestShedPriorities: with one slot held by a Normal call, a Low call is
// shed with ResourceExhausted and a health check (Critical) still passes.
func TestShedPriorities(t *testing.T) {
	l, err := resilience.NewAdaptiveLimiter(&resilience.LimiterOptions{Initial: 1, Min: 1, Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	shed := grpcx.Shed(l, nil, 2*time.Second)
	block, entered := make(chan struct{}), make(chan struct{}, 1)
	err = shed(context.Background(), "/svc/Slow", func(context.Context) error {
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- shed(context.Background(), "/svc/Slow", func(context.Context) error { entered <- struct{}{}; <-block; return nil })
	}()
	<-entered
	low := metadata.NewIncomingContext(context.Background(), metadata.Pairs(grpcx.PriorityKey, "low"))
	err = shed(low, "/svc/Work", func(context.Context) error { return nil })
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("Low call over the limit: %v", err)
	}
	if d, _ := grpcx.RetryDelay(err); d != 2*time.Second {
		t.Fatalf("shed RetryInfo %v, want 2s", d)
	}
	forged := metadata.NewIncomingContext(context.Background(), metadata.Pairs(grpcx.PriorityKey, "critical"))
	if err := shed(forged, "/svc/Work", func(context.Context) error { return nil }); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a client claiming critical priority got in: %v", err)
	}
	if err := shed(context.Background(), "/grpc.health.v1.Health/Check", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("health check shed: %v", err)
	}
	close(block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.InFlight() != 0 {
		t.Fatalf("in flight %d", l.InFlight())
	}
}

// TestRetryBudgetCapsAttemptsDuringOutage: every backend answers
// Unavailable; MaxAttempts 5 would make 5 attempts per call, the budget
// keeps them near 1.1.
func TestRetryBudgetCapsAttemptsDuringOutage(t *testing.T) {
	b := startBackend(t)
	b.set(func(context.Context) error { return status.Error(codes.Unavailable, "outage") })
	budget, _ := resilience.NewRetryBudget(&resilience.RetryBudgetOptions{Ratio: 0.1, NoMinimum: true, Burst: 5})
	cl, err := grpcx.NewClient(&grpcx.ClientOptions{NoBreaker: true,
		Retry: &resilience.RetryOptions{MaxAttempts: 5, InitialBackoff: time.Microsecond, Budget: budget}})
	if err != nil {
		t.Fatal(err)
	}
	// lb's own breakers and ejection are off, so only the budget limits.
	cc := dial(t, plainRR, []*backend{b}, grpc.WithChainUnaryInterceptor(cl.UnaryInterceptor()))
	c := testpb.NewTestServiceClient(cc)
	waitReady(t, c, []*backend{b})
	start := b.calls.Load()
	const calls = 100
	for i := 0; i < calls; i++ {
		if _, err := c.EmptyCall(context.Background(), &testpb.Empty{}); status.Code(err) != codes.Unavailable {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	attempts := b.calls.Load() - start
	perCall := float64(attempts) / calls
	t.Logf("%d attempts for %d calls (%.2f per call; MaxAttempts 5)", attempts, calls, perCall)
	if attempts > calls+5+10 {
		t.Fatalf("%d attempts: the budget allows at most %d", attempts, calls+15)
	}
}

// TestClientBreakerRecoversUnderContinuousLoad: the target's breaker
// opens during an outage, rejects without sending, and closes again once
// the backend recovers while load continues.
func TestClientBreakerRecoversUnderContinuousLoad(t *testing.T) {
	b := startBackend(t)
	var mu sync.Mutex
	down := true
	b.set(func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return status.Error(codes.Unavailable, "down")
		}
		return nil
	})
	cl, err := grpcx.NewClient(&grpcx.ClientOptions{
		Breaker: &resilience.BreakerOptions{FailureThreshold: 3, Timeout: 30 * time.Millisecond},
		Retry:   &resilience.RetryOptions{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	cc := dial(t, plainRR, []*backend{b}, grpc.WithChainUnaryInterceptor(cl.UnaryInterceptor()))
	c := testpb.NewTestServiceClient(cc)
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
				_, _ = c.EmptyCall(context.Background(), &testpb.Empty{})
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	br := cl.Breaker(cc.Target())
	poll := func(want resilience.State) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); br.State() != want; {
			if time.Now().After(deadline) {
				t.Fatalf("breaker %v, want %v", br.State(), want)
			}
			time.Sleep(time.Millisecond) // gobreaker keeps real time: poll
		}
	}
	poll(resilience.StateOpen)
	mu.Lock()
	down = false
	mu.Unlock()
	poll(resilience.StateClosed)
	if _, err := c.EmptyCall(context.Background(), &testpb.Empty{}); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}
