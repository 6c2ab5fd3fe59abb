package grpcx

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/resilience"
)

// ServerOptions configure ServerChain. The zero value (or nil) gives
// request ids, the access log on slog.Default, recovery and the otelgrpc
// stats handler.
type ServerOptions struct {
	// Logger receives the access log and recovered panics (default
	// slog.Default()). NoAccessLog turns the access log off.
	Logger      *slog.Logger
	NoAccessLog bool
	// Shed, when set, admits calls through this adaptive limiter by
	// priority (Priority, default DefaultPriority), answering
	// ResourceExhausted with ShedRetryAfter (default 1 s).
	Shed           *resilience.AdaptiveLimiter
	Priority       func(ctx context.Context, method string) resilience.Priority
	ShedRetryAfter time.Duration
	// RateLimit, when set, limits calls by RateKey (default KeyByPeer).
	RateLimit *ratelimit.Limiter
	RateKey   RateKey
	// Middlewares run innermost, just around the handler.
	Middlewares []Middleware
	// NoStatsHandler leaves out otelgrpc's stats handler (the
	// rpc.server.* semantic-convention metrics and spans, as httpx's
	// Telemetry does for HTTP).
	NoStatsHandler bool
	// MeterProvider and TracerProvider go to otelgrpc (default global).
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// ServerChain returns the grpc.ServerOptions of the recommended server
// stack, outermost first: request id, access log, recovery (so the log
// sees the Internal of a panic), shedding, rate limit, then
// o.Middlewares; for unary and stream calls alike, plus otelgrpc's stats
// handler.
func ServerChain(o *ServerOptions) []grpc.ServerOption {
	if o == nil {
		o = &ServerOptions{}
	}
	mws := []Middleware{RequestID()}
	if !o.NoAccessLog {
		mws = append(mws, AccessLog(o.Logger))
	}
	mws = append(mws, Recovery(o.Logger))
	if o.Shed != nil {
		mws = append(mws, Shed(o.Shed, o.Priority, o.ShedRetryAfter))
	}
	if o.RateLimit != nil {
		mws = append(mws, RateLimit(o.RateLimit, o.RateKey))
	}
	mws = append(mws, o.Middlewares...)
	mw := Chain(mws...)
	opts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(Unary(mw)), grpc.ChainStreamInterceptor(Stream(mw))}
	if !o.NoStatsHandler {
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithMeterProvider(meterOr(o.MeterProvider)), otelgrpc.WithTracerProvider(tracerOr(o.TracerProvider)))))
	}
	return opts
}

// DialOptions returns the grpc.DialOptions of the client stack: c's
// interceptors, otelgrpc's client stats handler (unless noStats), and a
// default service config selecting balancer (one of the *Name constants;
// "" leaves the balancer to the resolver's service config).
func (c *Client) DialOptions(balancer string, noStats bool) []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(c.UnaryInterceptor()),
		grpc.WithChainStreamInterceptor(c.StreamInterceptor()),
	}
	if balancer != "" {
		opts = append(opts, grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"`+balancer+`":{}}]}`))
	}
	if !noStats {
		opts = append(opts, grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithMeterProvider(meterOr(c.o.MeterProvider)))))
	}
	return opts
}
