// Package grpcx brings scalekit's load balancing and resilience policies
// to grpc-go. It is a nested module (github.com/scalekit-go/scalekit/grpcx)
// so that HTTP-only services never download gRPC.
//
// # Client side
//
// Importing grpcx registers balancers built on lb's pickers under names a
// service config selects (RoundRobinName, WeightedRoundRobinName,
// LeastRequestName, P2CEWMAName, ConsistentHashName — the latter hashing
// an outgoing metadata key). Each ClientConn gets an lb.Balancer over its
// ready SubConns: every call's balancer.DoneInfo feeds its latency and
// outcome back into the picker, outlier ejection and per-endpoint
// breakers (resilience.Breaker), which never count their own rejections.
// When every endpoint is rejected, calls fail fast with Unavailable.
//
// Client (NewClient) holds the client interceptors: request-id metadata,
// a default deadline (grpc-go propagates deadlines to servers), a
// breaker per target, and for declared-safe methods and codes retries
// with a shared resilience.RetryBudget (honouring RetryInfo delays) or
// hedging.
//
// # Server side
//
// A Middleware is written once and used as unary and stream interceptor
// (Unary, Stream, Chain): RequestID, AccessLog (slog), Recovery (a panic
// becomes Internal without leaking anything), Shed (adaptive concurrency
// with priorities, resilience.AdaptiveLimiter) and RateLimit (any
// ratelimit backend, keyed on method, peer or metadata). Refusals are
// ResourceExhausted with an errdetails.RetryInfo. ServerChain assembles
// them with otelgrpc's stats handler. HealthService serves the standard
// health service from httpx.Health checks, and Drain stops a server
// gracefully.
package grpcx
