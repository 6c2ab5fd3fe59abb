package grpcx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"

	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/resilience"
)

type fakeSC struct{ balancer.SubConn }

func benchPicker(b *testing.B, policy lb.Policy, cfg *BalancerConfig, n int) balancer.Picker {
	pb := &pickerBuilder{policy: policy, hashing: policy.Name() == "consistent_hash"}
	pb.configure(cfg)
	b.Cleanup(pb.close)
	ready := map[balancer.SubConn]base.SubConnInfo{}
	for i := 0; i < n; i++ {
		ready[&fakeSC{}] = base.SubConnInfo{Address: resolver.Address{Addr: fmt.Sprintf("10.0.0.%d:80", i+1)}}
	}
	return pb.Build(base.PickerBuildInfo{ReadySCs: ready})
}

// BenchmarkPick measures one Pick plus its Done, as grpc-go calls them.
func BenchmarkPick(b *testing.B) {
	plain := &BalancerConfig{BreakerFailures: -1, EjectFailures: -1}
	for _, tc := range []struct {
		name   string
		policy lb.Policy
		cfg    *BalancerConfig
	}{
		{"round_robin", lb.RoundRobin(), plain},
		{"p2c_ewma", lb.LeastResponseTime(&lb.LoadOptions{ExactBelow: -1}), plain},
		{"least_request", lb.LeastConn(nil), plain},
		{"consistent_hash", lb.ConsistentHash(nil), plain},
		{"p2c_ewma+breakers+outlier", lb.LeastResponseTime(&lb.LoadOptions{ExactBelow: -1}), &BalancerConfig{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := benchPicker(b, tc.policy, tc.cfg, 8)
			info := balancer.PickInfo{FullMethodName: "/svc/M", Ctx: context.Background()}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, err := p.Pick(info)
				if err != nil {
					b.Fatal(err)
				}
				r.Done(balancer.DoneInfo{})
			}
		})
	}
}

var sink error

// BenchmarkInterceptorOverhead measures the client interceptor and the
// recommended server chain around no-op calls, against the bare calls.
func BenchmarkInterceptorOverhead(b *testing.B) {
	ctx := context.Background()
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	handler := func(context.Context, any) (any, error) { return nil, nil }
	cc, err := grpc.NewClient("passthrough:///bench", grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	cl, err := NewClient(nil)
	if err != nil {
		b.Fatal(err)
	}
	ci := cl.UnaryInterceptor()
	limiter, _ := resilience.NewAdaptiveLimiter(&resilience.LimiterOptions{Initial: 1000, Max: 1000})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	si := Unary(Chain(RequestID(), AccessLog(logger), Recovery(logger), Shed(limiter, nil, 0)))
	info := &grpc.UnaryServerInfo{FullMethod: "/svc/M"}
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sink = invoker(ctx, "/svc/M", nil, nil, cc)
			_, sink = handler(ctx, nil)
		}
	})
	b.Run("client", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sink = ci(ctx, "/svc/M", nil, nil, cc, invoker)
		}
	})
	b.Run("server", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, sink = si(ctx, nil, info, handler)
		}
	})
	b.Run("server_no_accesslog", func(b *testing.B) {
		si := Unary(Chain(RequestID(), Recovery(logger), Shed(limiter, nil, 0)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, sink = si(ctx, nil, info, handler)
		}
	})
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }
