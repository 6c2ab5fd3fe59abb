// Command cluster runs N gRPC servers on loopback with grpcx's server
// stack (one slow, one failing) and a client balancing over them with
// P2C-EWMA, per-endpoint breakers and outlier ejection, plus the client
// interceptors (retry budget, breaker, request id). It prints where the
// calls went and the latency percentiles.
//
//	go run ./examples/cluster -servers 4 -calls 400
//	go run ./examples/cluster -balancer scalekit_round_robin
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/scalekit-go/scalekit/grpcx"
	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/resilience"
)

type server struct {
	testpb.UnimplementedTestServiceServer
	name  string
	delay time.Duration
	fail  bool
}

func (s *server) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if s.fail {
		return nil, status.Error(codes.Unavailable, "this server is broken")
	}
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &testpb.SimpleResponse{Username: s.name}, nil
}

func main() {
	n := flag.Int("servers", 4, "number of servers (the last is failing, the one before slow)")
	calls := flag.Int("calls", 400, "number of calls")
	warmup := flag.Int("warmup", 100, "calls before measuring (not counted)")
	policy := flag.String("balancer", grpcx.P2CEWMAName, "balancer name")
	flag.Parse()
	if *n < 3 {
		log.Fatal("need at least 3 servers")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var addrs []resolver.Address
	var servers []*grpc.Server
	for i := 0; i < *n; i++ {
		s := &server{name: fmt.Sprintf("server-%d", i), delay: time.Millisecond}
		switch i {
		case *n - 2:
			s.delay = 40 * time.Millisecond
			s.name += " (slow)"
		case *n - 1:
			s.fail = true
			s.name += " (failing)"
		}
		limiter, err := resilience.NewAdaptiveLimiter(&resilience.LimiterOptions{Name: s.name})
		if err != nil {
			log.Fatal(err)
		}
		srv := grpc.NewServer(grpcx.ServerChain(&grpcx.ServerOptions{Logger: quiet, Shed: limiter})...)
		testpb.RegisterTestServiceServer(srv, s)
		healthpb.RegisterHealthServer(srv, grpcx.NewHealthService(httpx.NewHealth(nil)))
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		go func() { _ = srv.Serve(lis) }()
		servers = append(servers, srv)
		addrs = append(addrs, resolver.Address{Addr: lis.Addr().String()})
	}

	r := manual.NewBuilderWithScheme("cluster")
	r.InitialState(resolver.State{Addresses: addrs})
	client, err := grpcx.NewClient(&grpcx.ClientOptions{Retry: &resilience.RetryOptions{MaxAttempts: 3}})
	if err != nil {
		log.Fatal(err)
	}
	opts := append(client.DialOptions(*policy, true),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(r))
	cc, err := grpc.NewClient("cluster:///orders", opts...)
	if err != nil {
		log.Fatal(err)
	}
	c := testpb.NewTestServiceClient(cc)
	for i := 0; i < *warmup; i++ { // the balancer learns the latencies
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = c.UnaryCall(ctx, &testpb.SimpleRequest{})
		cancel()
	}

	var (
		mu     sync.Mutex
		lat    []time.Duration
		byName = map[string]int{}
		failed int
		wg     sync.WaitGroup
	)
	jobs := make(chan struct{}, *calls)
	for i := 0; i < *calls; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				start := time.Now()
				resp, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
				d := time.Since(start)
				cancel()
				mu.Lock()
				lat = append(lat, d)
				if err != nil {
					failed++
				} else {
					byName[resp.GetUsername()]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("balancer %s, %d calls, %d failed\n", *policy, *calls, failed)
	names := make([]string, 0, len(byName))
	for k := range byName {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Printf("  %-22s %d\n", k, byName[k])
	}
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	fmt.Printf("latency p50 %v  p99 %v  max %v\n", q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	_ = cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := grpcx.Drain(ctx, s, nil, 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}
