package grpcx_test

import (
	"context"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/grpcx"
)

func TestIdempotencyReplaysOnceAndRefusesMismatch(t *testing.T) {
	store, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	b := startBackend(t, grpc.UnaryInterceptor(grpcx.Idempotency(store, nil)))
	var runs atomic.Int32
	b.set(func(context.Context) error { runs.Add(1); return nil })
	c := testpb.NewTestServiceClient(dial(t, grpcx.RoundRobinName, []*backend{b}))
	call := func(key string, size int32) (*testpb.SimpleResponse, metadata.MD, error) {
		ctx := metadata.AppendToOutgoingContext(context.Background(), grpcx.IdempotencyKey, key)
		var h metadata.MD
		resp, err := c.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: size}, grpc.Header(&h))
		return resp, h, err
	}
	r1, _, err := call("order-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	r2, h2, err := call("order-1", 1)
	if err != nil || r2.GetUsername() != r1.GetUsername() || runs.Load() != 1 {
		t.Fatalf("duplicate: %v %v, handler ran %d times (want 1)", r2, err, runs.Load())
	}
	if got := h2.Get(grpcx.ReplayedKey); len(got) != 1 || got[0] != "true" {
		t.Fatalf("replayed header %v", got)
	}
	if _, _, err := call("order-1", 2); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("same key, different request: %v", err)
	}
	// A failed call releases its key: the retry runs again.
	b.set(func(context.Context) error { runs.Add(1); return status.Error(codes.Unavailable, "flaky") })
	if _, _, err := call("order-2", 1); status.Code(err) != codes.Unavailable {
		t.Fatal(err)
	}
	b.set(func(context.Context) error { runs.Add(1); return nil })
	if _, _, err := call("order-2", 1); err != nil {
		t.Fatalf("retry after a failure: %v", err)
	}
	if runs.Load() != 3 {
		t.Fatalf("handler ran %d times, want 3", runs.Load())
	}
	if _, _, err := call("bad key with spaces", 1); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("malformed key: %v", err)
	}
}
