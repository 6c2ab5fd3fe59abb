package grpcx_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/scalekit-go/scalekit/grpcx"
	"github.com/scalekit-go/scalekit/lb"
)

// TestResolverOverLBResolver resolves "scheme:///orders" through an
// lb.Resolver (the shape etcdlb.Resolver has) and balances over it.
func TestResolverOverLBResolver(t *testing.T) {
	bs := []*backend{startBackend(t), startBackend(t)}
	var asked string
	rb := grpcx.NewResolverBuilder("sktest", func(service string) (lb.Resolver, error) {
		asked = service
		return lb.Static(lb.Endpoint{Addr: bs[0].addr}, lb.Endpoint{Addr: bs[1].addr, Weight: 3}), nil
	})
	cc, err := grpc.NewClient("sktest:///orders", grpc.WithResolvers(rb),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, grpcx.WeightedRoundRobinName)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := testpb.NewTestServiceClient(cc)
	waitReady(t, c, bs)
	if asked != "orders" {
		t.Fatalf("source asked for %q, want orders", asked)
	}
	b0, b1 := bs[0].calls.Load(), bs[1].calls.Load()
	for i := 0; i < 40; i++ {
		if _, err := c.EmptyCall(context.Background(), &testpb.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	d0, d1 := bs[0].calls.Load()-b0, bs[1].calls.Load()-b1
	if d0 != 10 || d1 != 30 {
		t.Fatalf("weights 1:3 gave %d:%d calls", d0, d1)
	}
}
