package httpx

import (
	"log/slog"
	"time"

	"github.com/scalekit-go/scalekit/cache/driver"
)

// StackOptions configure DefaultStack. The zero value (or nil) gives the
// recommended stack: request ID, telemetry, access log, panic recovery, a
// 30s timeout, a 1 MiB body limit and compression. The optional parts
// (CORS, shedding, rate limiting, ETags, sessions, idempotency) are added
// when configured.
type StackOptions struct {
	// Logger receives access and panic records. Default slog.Default().
	Logger *slog.Logger
	// RequestID configures RequestID.
	RequestID *RequestIDOptions
	// Telemetry configures Telemetry; NoTelemetry leaves it out.
	Telemetry   *TelemetryOptions
	NoTelemetry bool
	// AccessLog configures AccessLog; NoAccessLog leaves it out.
	AccessLog   *AccessLogOptions
	NoAccessLog bool
	// CORS, when set, adds CORS.
	CORS *CORSOptions
	// Shed, when set, adds load shedding through this limiter.
	Shed        *AdaptiveLimiter
	ShedOptions *ShedOptions
	// RateLimiter, when set, adds RateLimit with RateLimit as options.
	RateLimiter RateLimiter
	RateLimit   *RateLimitOptions
	// Timeout per request. Default 30s; negative leaves Timeout out.
	Timeout        time.Duration
	TimeoutOptions *TimeoutOptions
	// MaxBodyBytes caps request bodies. Default 1 MiB; negative leaves
	// BodyLimit out.
	MaxBodyBytes int64
	// Compress configures Compress; NoCompress leaves it out.
	Compress   *CompressOptions
	NoCompress bool
	// ETags, when set, adds ETags (automatic ETags and 304s on GET).
	ETags *ETagsOptions
	// Sessions, when set, adds its middleware.
	Sessions *Sessions
	// Idempotency, when set, adds Idempotency over this store.
	Idempotency        driver.Store
	IdempotencyOptions *IdempotencyOptions
}

// DefaultStack composes the recommended server middleware, outermost
// first:
//
//	RequestID → Telemetry → AccessLog → Recover → CORS → Shed → RateLimit →
//	Timeout → BodyLimit → Compress → ETags → Sessions → Idempotency
//
// The order matters and is deliberate: the request ID exists before
// anything logs or traces; telemetry and the access log sit outside
// Recover so a panic is seen as the 500 it becomes; CORS answers
// preflights before they count against limits and decorates 429/503
// answers so browsers can read them; shedding and rate limiting refuse
// work before any is done; the timeout starts after admission; ETags sits
// inside Compress so it hashes identity bytes; idempotency replays
// complete handler responses.
func DefaultStack(opts *StackOptions) Middleware {
	var o StackOptions
	if opts != nil {
		o = *opts
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.Default()
	}
	var mws []Middleware
	add := func(on bool, mw func() Middleware) {
		if on {
			mws = append(mws, mw())
		}
	}
	add(true, func() Middleware { return RequestID(o.RequestID) })
	add(!o.NoTelemetry, func() Middleware { return Telemetry(o.Telemetry) })
	add(!o.NoAccessLog, func() Middleware { return AccessLog(lg, o.AccessLog) })
	add(true, func() Middleware { return Recover(&RecoverOptions{Logger: lg}) })
	add(o.CORS != nil, func() Middleware { return CORS(o.CORS) })
	add(o.Shed != nil, func() Middleware { return Shed(o.Shed, o.ShedOptions) })
	add(o.RateLimiter != nil, func() Middleware { return RateLimit(o.RateLimiter, o.RateLimit) })
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	add(timeout > 0, func() Middleware { return Timeout(timeout, o.TimeoutOptions) })
	maxBody := o.MaxBodyBytes
	if maxBody == 0 {
		maxBody = 1 << 20
	}
	add(maxBody > 0, func() Middleware { return BodyLimit(maxBody) })
	add(!o.NoCompress, func() Middleware { return Compress(o.Compress) })
	add(o.ETags != nil, func() Middleware { return ETags(o.ETags) })
	add(o.Sessions != nil, func() Middleware { return o.Sessions.Middleware })
	add(o.Idempotency != nil, func() Middleware { return Idempotency(o.Idempotency, o.IdempotencyOptions) })
	return Chain(mws...)
}
