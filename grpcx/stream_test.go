package grpcx_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/scalekit-go/scalekit/grpcx"
	"github.com/scalekit-go/scalekit/httpx"
)

// TestStreamInterceptors runs a server stream (health Watch) through
// ServerChain and the client's stream interceptor: the request id
// travels both ways and the stream works.
func TestStreamInterceptors(t *testing.T) {
	srv := grpc.NewServer(grpcx.ServerChain(&grpcx.ServerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})...)
	hs := grpcx.NewHealthService(httpx.NewHealth(nil))
	hs.Refresh(context.Background())
	healthpb.RegisterHealthServer(srv, hs)
	b := &backend{addr: startOn(t, srv)}
	cl, err := grpcx.NewClient(nil)
	if err != nil {
		t.Fatal(err)
	}
	cc := dial(t, grpcx.RoundRobinName, []*backend{b}, cl.DialOptions("", true)...)
	ctx, cancel := context.WithCancel(grpcx.WithRequestID(context.Background(), "stream-7"))
	defer cancel()
	w, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := w.Recv()
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: %v %v", resp, err)
	}
	var md metadata.MD
	if md, err = w.Header(); err != nil {
		t.Fatal(err)
	}
	if got := md.Get(grpcx.RequestIDKey); len(got) != 1 || got[0] != "stream-7" {
		t.Fatalf("request id on the stream: %v", got)
	}
}
