package grpcx

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/resilience"
)

// Middleware is one server-side policy, written once and turned into a
// unary and a stream interceptor by Unary and Stream: it runs next (the
// handler, with the context it passes) or answers with an error.
type Middleware func(ctx context.Context, fullMethod string, next func(context.Context) error) error

// Unary returns mw as a unary server interceptor.
func Unary(mw Middleware) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		err = mw(ctx, info.FullMethod, func(ctx context.Context) error {
			var herr error
			resp, herr = handler(ctx, req)
			return herr
		})
		return resp, err
	}
}

// Stream returns mw as a stream server interceptor; the handler sees the
// context mw passes through ServerStream.Context.
func Stream(mw Middleware) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return mw(ss.Context(), info.FullMethod, func(ctx context.Context) error {
			if ctx != ss.Context() {
				ss = &ctxStream{ServerStream: ss, ctx: ctx}
			}
			return handler(srv, ss)
		})
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// Chain composes middlewares, the first outermost.
func Chain(mws ...Middleware) Middleware {
	return func(ctx context.Context, method string, next func(context.Context) error) error {
		call := next
		for i := len(mws) - 1; i >= 0; i-- {
			mw, inner := mws[i], call
			call = func(ctx context.Context) error { return mw(ctx, method, inner) }
		}
		return call(ctx)
	}
}

// Recovery turns a panic in the handler into codes.Internal with a fixed
// message: the panic value and stack go to logger (nil means
// slog.Default()), never to the client.
func Recovery(logger *slog.Logger) Middleware {
	if logger == nil {
		logger = slog.Default()
	}
	return func(ctx context.Context, method string, next func(context.Context) error) (err error) {
		defer func() {
			if p := recover(); p != nil {
				logger.ErrorContext(ctx, "grpc handler panicked", "grpc.method", method,
					"request_id", RequestIDFrom(ctx), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return next(ctx)
	}
}

// RequestIDKey is the metadata key of the request id, in both
// directions.
const RequestIDKey = "x-request-id"

type requestIDKey struct{}

// WithRequestID returns ctx carrying id; the client interceptor sends it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewRequestID returns a random 128-bit id in hex. It uses the runtime's
// fast generator: a request id correlates logs, it is not a secret.
func NewRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// validRequestID accepts up to 128 visible ASCII characters, so that a
// client cannot inject log lines or huge values.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// RequestID takes the request id from the incoming metadata (a fresh one
// when absent or malformed), puts it in the context (RequestIDFrom) and
// sends it back in the response header.
func RequestID() Middleware {
	return func(ctx context.Context, _ string, next func(context.Context) error) error {
		var id string
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(RequestIDKey); len(v) > 0 && validRequestID(v[0]) {
				id = v[0]
			}
		}
		if id == "" {
			id = NewRequestID()
		}
		_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDKey, id))
		return next(WithRequestID(ctx, id))
	}
}

// AccessLog logs one line per call at Info (Warn for server-side error
// codes) with the method, code, duration, peer and request id.
func AccessLog(logger *slog.Logger) Middleware {
	if logger == nil {
		logger = slog.Default()
	}
	return func(ctx context.Context, method string, next func(context.Context) error) error {
		start := time.Now()
		err := next(ctx)
		code := status.Code(err)
		level := slog.LevelInfo
		switch code {
		case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unavailable, codes.DeadlineExceeded:
			level = slog.LevelWarn
		}
		logger.LogAttrs(ctx, level, "grpc call", slog.String("grpc.method", method),
			slog.String("grpc.code", code.String()), slog.Duration("duration", time.Since(start)),
			slog.String("peer", peerHost(ctx)), slog.String("request_id", RequestIDFrom(ctx)))
		return err
	}
}

// peerHost is the peer's address without its port.
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	s := p.Addr.String()
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}

// RateKey chooses the rate-limit key of a call ("" exempts it).
type RateKey func(ctx context.Context, fullMethod string) string

// KeyByMethod limits each method as a whole.
func KeyByMethod(_ context.Context, method string) string { return method }

// KeyByPeer limits each client host (the peer address without its port)
// across methods.
func KeyByPeer(ctx context.Context, _ string) string { return peerHost(ctx) }

// KeyByMetadata limits by the first value of an incoming metadata key
// (an API key, a tenant), with method; calls without it share the key
// of their peer host.
func KeyByMetadata(key string) RateKey {
	key = strings.ToLower(key)
	return func(ctx context.Context, method string) string {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(key); len(v) > 0 && v[0] != "" {
				return method + "|" + key + "=" + v[0]
			}
		}
		return method + "|peer=" + peerHost(ctx)
	}
}

// RateLimit admits calls through l (any ratelimit backend: memrate,
// redisrate) keyed by key (nil means KeyByPeer). A refused call gets
// codes.ResourceExhausted with an errdetails.RetryInfo whose RetryDelay is
// the limiter's RetryAfter; grpcx's client interceptor waits that long
// before retrying. A backend error follows the limiter's own failure
// policy (ratelimit.Options.OnError); if it still errs, the call gets
// codes.Unavailable.
func RateLimit(l *ratelimit.Limiter, key RateKey) Middleware {
	if key == nil {
		key = KeyByPeer
	}
	return func(ctx context.Context, method string, next func(context.Context) error) error {
		k := key(ctx, method)
		if k == "" {
			return next(ctx)
		}
		d, err := l.Allow(ctx, k, 1)
		if err != nil {
			return status.Error(codes.Unavailable, "rate limiter unavailable")
		}
		if !d.Allowed {
			return ResourceExhausted("rate limit exceeded", d.RetryAfter)
		}
		return next(ctx)
	}
}

// ResourceExhausted returns a codes.ResourceExhausted status error whose
// details carry retryAfter as an errdetails.RetryInfo.
func ResourceExhausted(msg string, retryAfter time.Duration) error {
	st := status.New(codes.ResourceExhausted, msg)
	if ds, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}); err == nil {
		st = ds
	}
	return st.Err()
}

// RetryDelay returns the errdetails.RetryInfo delay of a status error.
func RetryDelay(err error) (time.Duration, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return 0, false
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

// PriorityKey is the incoming metadata key DefaultPriority reads
// ("low", "normal", "high"; "critical" is reserved for health checks).
const PriorityKey = "x-scalekit-priority"

// DefaultPriority is Critical for the gRPC health service, the priority
// in the context (resilience.WithPriority) when set, else the
// PriorityKey metadata (low, normal or high — a client cannot claim
// critical), else Normal.
func DefaultPriority(ctx context.Context, method string) resilience.Priority {
	if strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		return resilience.Critical
	}
	if p := resilience.PriorityFrom(ctx); p != resilience.Normal {
		return p
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(PriorityKey); len(v) > 0 {
			switch v[0] {
			case "low":
				return resilience.Low
			case "high":
				return resilience.High
			}
		}
	}
	return resilience.Normal
}

// Shed admits calls through the adaptive limiter l by priority (nil
// means DefaultPriority) and refuses the rest with codes.ResourceExhausted
// and a RetryInfo of retryAfter (0 means 1 s). A call ending in
// DeadlineExceeded or ResourceExhausted from below counts as congestion;
// a call the client cancelled only frees its slot.
func Shed(l *resilience.AdaptiveLimiter, priority func(ctx context.Context, method string) resilience.Priority, retryAfter time.Duration) Middleware {
	if priority == nil {
		priority = DefaultPriority
	}
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	return func(ctx context.Context, method string, next func(context.Context) error) error {
		p := priority(ctx, method)
		tok, ok := l.Acquire(ctx, p)
		if !ok {
			return ResourceExhausted("server overloaded; call shed", retryAfter)
		}
		released := false
		defer func() {
			if !released {
				tok.End(resilience.Ignored, false)
			}
		}()
		err := next(resilience.WithPriority(ctx, p))
		released = true
		code := status.Code(err)
		dropped := code == codes.DeadlineExceeded || code == codes.ResourceExhausted ||
			errors.Is(err, context.DeadlineExceeded)
		outcome := resilience.Classify(ctx, err, IsFailure)
		if code == codes.Canceled {
			outcome = resilience.Ignored
		}
		tok.End(outcome, dropped)
		return err
	}
}
