package grpcx_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/scalekit-go/scalekit/grpcx"
	"github.com/scalekit-go/scalekit/resilience"
)

// TestKilledBackendLosesNoIdempotentCall kills one of two backends under
// load: the calls it was serving fail with Unavailable and are retried
// on the other one, within the retry budget; none reaches the caller.
func TestKilledBackendLosesNoIdempotentCall(t *testing.T) {
	a, b := startBackend(t), startBackend(t)
	slowish := func(ctx context.Context) error {
		select {
		case <-time.After(2 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	}
	a.set(slowish)
	b.set(slowish)
	cl, err := grpcx.NewClient(&grpcx.ClientOptions{
		Retry: &resilience.RetryOptions{MaxAttempts: 5, InitialBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	cc := dial(t, grpcx.P2CEWMAName, []*backend{a, b}, grpc.WithChainUnaryInterceptor(cl.UnaryInterceptor()))
	c := testpb.NewTestServiceClient(cc)
	waitReady(t, c, []*backend{a, b})
	var (
		done   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
		once   sync.Once
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if _, err := c.EmptyCall(ctx, &testpb.Empty{}); err != nil {
					failed.Add(1)
					t.Logf("call failed: %v", err)
				}
				cancel()
				if done.Add(1) == 60 {
					once.Do(a.srv.Stop) // kill: connections closed, calls in flight cut
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 200 idempotent calls failed after a backend was killed", failed.Load())
	}
}
