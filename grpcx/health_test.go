package grpcx_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/scalekit-go/scalekit/grpcx"
	"github.com/scalekit-go/scalekit/httpx"
)

func TestHealthServiceFollowsChecksAndDrain(t *testing.T) {
	h := httpx.NewHealth(nil)
	var dbDown atomic.Bool
	h.AddCheck("db", func(context.Context) error {
		if dbDown.Load() {
			return errors.New("db down")
		}
		return nil
	})
	hs := grpcx.NewHealthService(h)
	b := &backend{}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	testpb.RegisterTestServiceServer(srv, b)
	b.addr = startOn(t, srv)
	cc := dial(t, grpcx.RoundRobinName, []*backend{b})
	hc := healthpb.NewHealthClient(cc)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus()
	}
	if s := check(); s != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("healthy: %v", s)
	}
	dbDown.Store(true)
	for deadline := time.Now().Add(5 * time.Second); check() != healthpb.HealthCheckResponse_NOT_SERVING; {
		if time.Now().After(deadline) { // httpx.Health caches results briefly
			t.Fatal("a failing check never turned the service NOT_SERVING")
		}
		time.Sleep(10 * time.Millisecond)
	}
	dbDown.Store(false)
	if _, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown service: %v", err)
	}

	// Drain: a call in flight finishes, health says NOT_SERVING first.
	entered, release := make(chan struct{}), make(chan struct{})
	b.set(func(context.Context) error { close(entered); <-release; return nil })
	tc := testpb.NewTestServiceClient(cc)
	callDone := make(chan error, 1)
	go func() { _, err := tc.EmptyCall(context.Background(), &testpb.Empty{}); callDone <- err }()
	<-entered
	drained := make(chan error, 1)
	go func() { drained <- grpcx.Drain(context.Background(), srv, hs, 50*time.Millisecond) }()
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("draining server still SERVING")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-callDone; err != nil {
		t.Fatalf("the call in flight was cut by the drain: %v", err)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
}
