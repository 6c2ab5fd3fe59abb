package grpcx_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// backend is one loopback gRPC server whose EmptyCall behaviour the test
// sets (nil: answer at once).
type backend struct {
	testpb.UnimplementedTestServiceServer
	addr   string
	calls  atomic.Int64
	handle atomic.Pointer[func(ctx context.Context) error]
	srv    *grpc.Server
}

func (b *backend) EmptyCall(ctx context.Context, _ *testpb.Empty) (*testpb.Empty, error) {
	b.calls.Add(1)
	if h := b.handle.Load(); h != nil {
		if err := (*h)(ctx); err != nil {
			return nil, err
		}
	}
	return &testpb.Empty{}, nil
}

func (b *backend) UnaryCall(ctx context.Context, in *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if _, err := b.EmptyCall(ctx, nil); err != nil {
		return nil, err
	}
	return &testpb.SimpleResponse{Username: b.addr}, nil
}

func (b *backend) set(h func(ctx context.Context) error) { b.handle.Store(&h) }

// startBackend serves on a loopback port until the test ends.
func startBackend(t testing.TB, opts ...grpc.ServerOption) *backend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: lis.Addr().String(), srv: grpc.NewServer(opts...)}
	testpb.RegisterTestServiceServer(b.srv, b)
	go func() { _ = b.srv.Serve(lis) }()
	t.Cleanup(b.srv.Stop)
	return b
}

// startOn serves srv on a loopback port until the test ends and returns
// its address.
func startOn(t testing.TB, srv *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// dial connects to backends through a manual resolver with the named
// balancer and extra dial options.
func dial(t testing.TB, policy string, bs []*backend, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	r := manual.NewBuilderWithScheme(fmt.Sprintf("t%d", time.Now().UnixNano()))
	var addrs []resolver.Address
	for _, b := range bs {
		addrs = append(addrs, resolver.Address{Addr: b.addr})
	}
	r.InitialState(resolver.State{Addresses: addrs})
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(lbConfig(policy)),
	}, opts...)
	cc, err := grpc.NewClient(r.Scheme()+":///test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// plainRR is round robin without lb's breakers and outlier ejection.
const plainRR = `{"scalekit_round_robin":{"breakerFailures":-1,"ejectFailures":-1}}`

// lbConfig is a service config selecting policy: a balancer name, or a
// whole {"name": {config}} object.
func lbConfig(policy string) string {
	if strings.HasPrefix(policy, "{") {
		return `{"loadBalancingConfig":[` + policy + `]}`
	}
	return fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, policy)
}

// waitReady makes calls until every backend has answered one, so that
// measurements start with all SubConns connected.
func waitReady(t testing.TB, c testpb.TestServiceClient, bs []*backend) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		all := true
		for _, b := range bs {
			if b.calls.Load() == 0 {
				all = false
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("not every backend became ready")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = c.EmptyCall(ctx, &testpb.Empty{})
		cancel()
	}
}

// quantile returns the q-quantile of ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q * float64(len(s)-1))
	return s[i]
}
