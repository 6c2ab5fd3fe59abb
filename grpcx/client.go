package grpcx

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/scalekit-go/scalekit/resilience"
)

// ClientOptions configure the client interceptors. The zero value (or
// nil) is valid: request ids, a breaker per target, and retries of
// codes.Unavailable only, within a private retry budget, for every method
// (Unavailable means the server did not process the call).
type ClientOptions struct {
	// RetryCodes are the codes worth another attempt (default
	// [Unavailable]). ResourceExhausted with a RetryInfo is retried after
	// the asked delay when listed.
	RetryCodes []codes.Code
	// SafeMethods declares which full method names ("/pkg.Svc/Method")
	// are safe to retry or hedge for the codes in RetryCodes; nil means
	// every method. Declare only idempotent methods when RetryCodes holds
	// anything beyond Unavailable.
	SafeMethods func(fullMethod string) bool
	// Retry tunes attempts and backoff (resilience.RetryOptions; its
	// Retryable is replaced by RetryCodes). Budget is shared between all
	// targets of the interceptor unless set per retry.
	Retry *resilience.RetryOptions
	// Hedge, when set, hedges unary calls of SafeMethods (its Budget
	// defaults to the retry budget).
	Hedge *resilience.HedgeOptions
	// Breaker configures the breaker of each target (cc.Target()); nil
	// means resilience defaults. Set NoBreaker to disable.
	Breaker   *resilience.BreakerOptions
	NoBreaker bool
	// DefaultTimeout bounds calls whose context has no deadline (0: none).
	// grpc-go propagates the deadline to the server itself.
	DefaultTimeout time.Duration
	// Name is the scalekit.name of the policies' metrics (default "grpcx").
	Name string
	// MeterProvider receives the scalekit.resilience.* metrics.
	MeterProvider metric.MeterProvider
}

// Client holds the client policies; its UnaryInterceptor and
// StreamInterceptor go into grpc.WithChainUnaryInterceptor and
// grpc.WithChainStreamInterceptor. Safe for concurrent use; build it with
// NewClient.
type Client struct {
	o      ClientOptions
	retry  *resilience.Retry
	hedge  *resilience.Hedge
	bopts  resilience.BreakerOptions
	mu     sync.Mutex
	breaks sync.Map // target → *resilience.Breaker
}

// NewClient returns the client policies. Bad options give an error
// wrapping resilience.ErrInvalidOption.
func NewClient(opts *ClientOptions) (*Client, error) {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = "grpcx"
	}
	if o.RetryCodes == nil {
		o.RetryCodes = []codes.Code{codes.Unavailable}
	}
	ro := resilience.RetryOptions{}
	if o.Retry != nil {
		ro = *o.Retry
	}
	ro.Name, ro.MeterProvider = o.Name, o.MeterProvider
	if ro.Budget == nil {
		b, err := resilience.NewRetryBudget(&resilience.RetryBudgetOptions{Clock: ro.Clock, Name: o.Name, MeterProvider: o.MeterProvider})
		if err != nil {
			return nil, err
		}
		ro.Budget = b
	}
	retryCodes := slices.Clone(o.RetryCodes)
	ro.Retryable = func(err error) bool { return slices.Contains(retryCodes, status.Code(err)) }
	r, err := resilience.NewRetry(&ro)
	if err != nil {
		return nil, err
	}
	c := &Client{o: o, retry: r}
	if o.Hedge != nil {
		ho := *o.Hedge
		ho.Name, ho.MeterProvider = o.Name, o.MeterProvider
		if ho.Budget == nil {
			ho.Budget = ro.Budget
		}
		if c.hedge, err = resilience.NewHedge(&ho); err != nil {
			return nil, err
		}
	}
	if o.Breaker != nil {
		c.bopts = *o.Breaker
	}
	c.bopts.MeterProvider = o.MeterProvider
	c.bopts.IsFailure = IsFailure
	if !o.NoBreaker { // validate once
		if _, err := resilience.NewBreaker(&resilience.BreakerOptions{Timeout: c.bopts.Timeout, Interval: c.bopts.Interval}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Budget returns the retry budget, to share with httpx transports or
// other clients of the same backend.
func (c *Client) Budget() *resilience.RetryBudget { return c.retry.Budget() }

// Breaker returns the breaker of target, creating it when needed (nil
// with NoBreaker).
func (c *Client) Breaker(target string) *resilience.Breaker {
	if c.o.NoBreaker {
		return nil
	}
	if b, ok := c.breaks.Load(target); ok {
		return b.(*resilience.Breaker)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.breaks.Load(target); ok {
		return b.(*resilience.Breaker)
	}
	o := c.bopts
	o.Name = c.o.Name + ":" + target
	b, _ := resilience.NewBreaker(&o)
	c.breaks.Store(target, b)
	return b
}

// outgoing adds the request id and the default deadline.
func (c *Client) outgoing(ctx context.Context) (context.Context, context.CancelFunc) {
	id := RequestIDFrom(ctx)
	if id == "" {
		id = NewRequestID()
		ctx = WithRequestID(ctx, id)
	}
	if md, ok := metadata.FromOutgoingContext(ctx); !ok || len(md.Get(RequestIDKey)) == 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, RequestIDKey, id)
	}
	if _, has := ctx.Deadline(); !has && c.o.DefaultTimeout > 0 {
		return context.WithTimeout(ctx, c.o.DefaultTimeout)
	}
	return ctx, func() {}
}

// grpcError adapts a status error for the policies: codes.Canceled
// becomes context.Canceled (ignored), and a RetryInfo becomes a
// RetryAfter hint.
type grpcError struct {
	err   error
	delay time.Duration
}

func (e *grpcError) Error() string             { return e.err.Error() }
func (e *grpcError) Unwrap() error             { return e.err }
func (e *grpcError) RetryAfter() time.Duration { return e.delay }

func wrapErr(err error) error {
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.Canceled {
		return errors.Join(err, context.Canceled)
	}
	if d, ok := RetryDelay(err); ok {
		return &grpcError{err: err, delay: d}
	}
	return err
}

// unwrapErr returns the status error the caller sees.
func unwrapErr(err error) error {
	if err == nil {
		return nil
	}
	var re *resilience.RejectedError
	if errors.As(err, &re) {
		return status.Error(codes.Unavailable, "grpcx: "+re.Error())
	}
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		return gs.GRPCStatus().Err()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return err
}

func (c *Client) safe(method string) bool { return c.o.SafeMethods == nil || c.o.SafeMethods(method) }

// UnaryInterceptor returns the unary client interceptor: request id,
// default deadline, then (for safe methods) hedging or retries with the
// budget, each attempt through the target's breaker.
func (c *Client) UnaryInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, cancel := c.outgoing(ctx)
		defer cancel()
		br := c.Breaker(cc.Target())
		attempt := func(ctx context.Context) error {
			return wrapErr(br.Execute(ctx, func(ctx context.Context) error {
				return wrapErr(invoker(ctx, method, req, reply, cc, opts...))
			}))
		}
		if !c.safe(method) {
			c.retry.Budget().Deposit()
			return unwrapErr(attempt(ctx))
		}
		if msg, ok := reply.(proto.Message); ok && c.hedge != nil {
			return unwrapErr(c.hedged(ctx, msg, func(ctx context.Context, into proto.Message) error {
				return wrapErr(br.Execute(ctx, func(ctx context.Context) error {
					return wrapErr(invoker(ctx, method, req, into, cc, opts...))
				}))
			}))
		}
		return unwrapErr(c.retryLoop(ctx, attempt))
	}
}

func (c *Client) retryLoop(ctx context.Context, attempt func(context.Context) error) error {
	return c.retry.Execute(ctx, attempt)
}

// hedged runs attempts under the hedge policy, each into its own reply
// message (concurrent attempts must not share one); the winner's reply is
// copied into reply. Hedged calls are not retried: the hedges are the
// extra attempts.
func (c *Client) hedged(ctx context.Context, reply proto.Message, attempt func(context.Context, proto.Message) error) error {
	win, cancel, _, err := resilience.Do(ctx, c.hedge, func(ctx context.Context, _ int) (proto.Message, error) {
		into := reply.ProtoReflect().New().Interface()
		if err := attempt(ctx, into); err != nil {
			return nil, err
		}
		return into, nil
	}, nil)
	cancel()
	if err != nil {
		return err
	}
	proto.Reset(reply)
	proto.Merge(reply, win)
	return nil
}

// StreamInterceptor returns the stream client interceptor: request id,
// default deadline and the target's breaker on stream creation (streams
// are not retried: their messages cannot be replayed). The breaker
// outcome is decided when the stream is established.
func (c *Client) StreamInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx, cancel := c.outgoing(ctx)
		br := c.Breaker(cc.Target())
		var cs grpc.ClientStream
		err := br.Execute(ctx, func(ctx context.Context) error {
			var err error
			cs, err = streamer(ctx, desc, cc, method, opts...)
			return wrapErr(err)
		})
		if err != nil {
			cancel()
			return nil, unwrapErr(err)
		}
		return &cancelStream{ClientStream: cs, cancel: cancel}, nil
	}
}

// cancelStream releases the default deadline's timer when the stream ends.
type cancelStream struct {
	grpc.ClientStream
	cancel context.CancelFunc
	once   sync.Once
}

func (s *cancelStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.once.Do(s.cancel)
	}
	return err
}
