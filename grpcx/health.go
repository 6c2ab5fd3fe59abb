package grpcx

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/httpx"
)

// HealthService is the standard gRPC health service
// (grpc.health.v1.Health) answering from a scalekit httpx.Health, so
// that one set of readiness checks serves HTTP probes and gRPC health
// checks alike. Check runs the checks (httpx.Health caches them); Watch
// and List see the status that Run refreshes. While the Health is
// draining every service is NOT_SERVING.
//
// Register it with healthpb.RegisterHealthServer. Safe for concurrent use.
type HealthService struct {
	*health.Server
	h *httpx.Health
}

// NewHealthService returns a health service over h.
func NewHealthService(h *httpx.Health) *HealthService {
	return &HealthService{Server: health.NewServer(), h: h}
}

func (s *HealthService) status(ctx context.Context) healthpb.HealthCheckResponse_ServingStatus {
	if s.h.Draining() {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	if _, ready := s.h.Check(ctx); !ready {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	return healthpb.HealthCheckResponse_SERVING
}

// Check answers from the scalekit checks for the overall service ("")
// and for every service name registered with SetServingStatus.
func (s *HealthService) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if req.GetService() != "" {
		if _, err := s.Server.Check(ctx, req); err != nil {
			return nil, err // unknown service: NotFound
		}
	}
	return &healthpb.HealthCheckResponse{Status: s.status(ctx)}, nil
}

// Refresh sets the overall status ("") from the checks now, for Watch
// and List.
func (s *HealthService) Refresh(ctx context.Context) {
	s.SetServingStatus("", s.status(ctx))
}

// Run refreshes the status every interval (0 means 5 s) on clk (nil means
// real time) until ctx ends.
func (s *HealthService) Run(ctx context.Context, interval time.Duration, clk clock.Clock) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	clk = clock.Or(clk)
	for {
		s.Refresh(ctx)
		if clock.Sleep(ctx, clk, interval) != nil {
			return
		}
	}
}

// Drain shuts srv down gracefully: the health service turns NOT_SERVING
// (health-checking clients and load balancers stop sending), grace passes
// so they notice, then srv.GracefulStop lets the calls in flight finish.
// If ctx ends first, srv.Stop cuts the remaining calls and ctx.Err() is
// returned.
func Drain(ctx context.Context, srv *grpc.Server, hs *HealthService, grace time.Duration) error {
	if hs != nil {
		hs.h.SetDraining(true)
		hs.Shutdown() // every service NOT_SERVING, Watch streams told
	}
	if grace > 0 {
		t := time.NewTimer(grace)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			srv.Stop()
			return ctx.Err()
		}
	}
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		srv.Stop()
		<-done
		return ctx.Err()
	}
}
