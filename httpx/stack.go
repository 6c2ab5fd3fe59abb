package httpx

import (
	"log/slog"
	"net/http"
	"strings"
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
	// ClientIP resolves the client address behind trusted proxies for the
	// default rate-limit key and the default idempotency scope, where
	// their own options name none. Default: the connection's peer.
	ClientIP *ClientIPResolver
	// ProbePaths are health-probe paths that bypass shedding, rate
	// limiting and idempotency whatever their keys or priorities, so a
	// probe without an API key, or during overload, still gets its
	// answer. Default /healthz, /readyz and /livez (what Health.Register
	// serves, with or without a trailing slash); an empty non-nil slice
	// turns the bypass off.
	ProbePaths []string
}

// defaultProbePaths are the health-probe paths of StackOptions.ProbePaths.
var defaultProbePaths = []string{"/healthz", "/readyz", "/livez"}

// bypassFor runs mw except for requests to paths, which go straight to
// next.
func bypassFor(paths []string, mw Middleware) Middleware {
	if len(paths) == 0 {
		return mw
	}
	set := make(map[string]bool, len(paths))
	for _, p := range paths {
		set[strings.TrimSuffix(p, "/")] = true
	}
	return func(next http.Handler) http.Handler {
		wrapped := mw(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if set[strings.TrimSuffix(r.URL.Path, "/")] {
				next.ServeHTTP(w, r)
				return
			}
			wrapped.ServeHTTP(w, r)
		})
	}
}

// DefaultStack composes the recommended server middleware, outermost
// first:
//
//	RequestID → Telemetry → AccessLog → Recover → CORS → Shed → RateLimit →
//	Timeout → BodyLimit → Compress → ETags → Sessions → Idempotency →
//	MuxProblems
//
// Health probes (ProbePaths) bypass Shed, RateLimit and Idempotency.
// ServeMux's own 404 and 405 answers come out as problem+json.
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
	probes := o.ProbePaths
	if probes == nil {
		probes = defaultProbePaths
	}
	add(o.Shed != nil, func() Middleware { return bypassFor(probes, Shed(o.Shed, o.ShedOptions)) })
	add(o.RateLimiter != nil, func() Middleware {
		var rl RateLimitOptions
		if o.RateLimit != nil {
			rl = *o.RateLimit
		}
		if rl.ClientIP == nil {
			rl.ClientIP = o.ClientIP
		}
		return bypassFor(probes, RateLimit(o.RateLimiter, &rl))
	})
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
	add(o.Idempotency != nil, func() Middleware {
		var io IdempotencyOptions
		if o.IdempotencyOptions != nil {
			io = *o.IdempotencyOptions
		}
		if io.ClientIP == nil {
			io.ClientIP = o.ClientIP
		}
		return bypassFor(probes, Idempotency(o.Idempotency, &io))
	})
	add(true, MuxProblems)
	return Chain(mws...)
}
