package grpcx_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/scalekit-go/scalekit/grpcx"
)

// runLoad makes n calls from `workers` goroutines and returns each call's
// latency and the number of failed calls.
func runLoad(c testpb.TestServiceClient, n, workers int) ([]time.Duration, int) {
	var (
		mu     sync.Mutex
		lat    []time.Duration
		failed int
		wg     sync.WaitGroup
	)
	jobs := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := c.EmptyCall(ctx, &testpb.Empty{})
				cancel()
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				if err != nil {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, failed
}

// TestP2CEWMACutsTailLatency runs the lb simulation's shape on real gRPC
// servers: two fast backends, one slow (80 ms) and one failing
// (Unavailable at once). Round robin sends a quarter of the calls to each;
// P2C-EWMA learns the latencies from DoneInfo and ejects the failing one.
func TestP2CEWMACutsTailLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("latency comparison; run without -short")
	}
	fast1, fast2, slow, failing := startBackend(t), startBackend(t), startBackend(t), startBackend(t)
	slow.set(func(ctx context.Context) error {
		select {
		case <-time.After(80 * time.Millisecond): // above a -race scheduling stall's typical length
		case <-ctx.Done():
		}
		return nil
	})
	failing.set(func(context.Context) error { return status.Error(codes.Unavailable, "down") })
	bs := []*backend{fast1, fast2, slow, failing}

	// p99 on a shared, loaded machine is noisy: each policy runs three
	// rounds and keeps its best p99 (scheduling stalls hit both policies;
	// the slow backend's 80 ms hits only the calls sent to it).
	measure := func(policy string) (p99 time.Duration, failed int, slowShare float64) {
		cc := dial(t, policy, bs)
		c := testpb.NewTestServiceClient(cc)
		waitReady(t, c, bs)
		_, _ = runLoad(c, 100, 4) // warm-up: EWMAs and ejection settle
		before := slow.calls.Load()
		p99 = time.Hour
		for round := 0; round < 3; round++ {
			lat, f := runLoad(c, 300, 4)
			p99 = min(p99, quantile(lat, 0.99))
			failed += f
		}
		return p99, failed, float64(slow.calls.Load()-before) / 900
	}
	rrP99, rrFailed, rrSlow := measure(grpcx.RoundRobinName)
	p2cP99, p2cFailed, p2cSlow := measure(grpcx.P2CEWMAName)
	t.Logf("round robin: p99 %v, %.1f%% to the slow backend, %d/900 failed; P2C-EWMA: p99 %v, %.1f%% slow, %d/900 failed",
		rrP99, 100*rrSlow, rrFailed, p2cP99, 100*p2cSlow, p2cFailed)
	// The p99 of round robin is the slow backend's 80 ms; P2C-EWMA sends
	// it about 1% of the calls or less, so its p99 is a fast call's. (On
	// a loaded machine a stalled fast call raises that backend's peak
	// EWMA for a while, and the slow one gets a few more calls: the bound
	// is 5%, against round robin's 33%.)
	if p2cSlow > 0.05 || rrSlow < 0.2 {
		t.Errorf("share of calls to the slow backend: P2C-EWMA %.3f (want ≤ 0.05), round robin %.3f", p2cSlow, rrSlow)
	}
	if p2cP99 >= rrP99 {
		t.Errorf("P2C-EWMA p99 %v is not under round robin's %v", p2cP99, rrP99)
	}
	if p2cFailed > 45 {
		t.Errorf("P2C-EWMA failed %d/900 calls: the failing backend was not avoided", p2cFailed)
	}
}

// TestConsistentHashOnMetadataKey checks that calls carrying the same
// hash key land on the same backend.
func TestConsistentHashOnMetadataKey(t *testing.T) {
	bs := []*backend{startBackend(t), startBackend(t), startBackend(t)}
	cc := dial(t, grpcx.ConsistentHashName, bs)
	c := testpb.NewTestServiceClient(cc)
	waitReady(t, c, bs)
	for _, key := range []string{"user-1", "user-2", "user-3", "user-4"} {
		var first string
		for i := 0; i < 10; i++ {
			ctx := metadata.AppendToOutgoingContext(context.Background(), grpcx.DefaultHashKey, key)
			resp, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if first == "" {
				first = resp.GetUsername()
			} else if resp.GetUsername() != first {
				t.Fatalf("key %s moved from %s to %s", key, first, resp.GetUsername())
			}
		}
	}
}

// TestBalancerBreakerFailsFastWhenAllOpen: with every endpoint failing,
// the per-endpoint breakers open and calls fail fast with Unavailable
// instead of reaching the backends.
func TestBalancerBreakerFailsFastWhenAllOpen(t *testing.T) {
	b := startBackend(t)
	b.set(func(context.Context) error { return status.Error(codes.Internal, "boom") })
	cc := dial(t, grpcx.RoundRobinName, []*backend{b})
	c := testpb.NewTestServiceClient(cc)
	waitReady(t, c, []*backend{b})
	for i := 0; i < 20; i++ {
		_, _ = c.EmptyCall(context.Background(), &testpb.Empty{})
	}
	before := b.calls.Load()
	for i := 0; i < 20; i++ {
		_, err := c.EmptyCall(context.Background(), &testpb.Empty{})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("call with breakers open: %v, want Unavailable", err)
		}
	}
	if after := b.calls.Load(); after != before {
		t.Fatalf("%d calls reached the backend through an open breaker", after-before)
	}
}
