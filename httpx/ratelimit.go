package httpx

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/ratelimit"
)

// RateLimiter is what RateLimit needs from a limiter: *ratelimit.Limiter
// (over memrate, redisrate or any driver) implements it.
type RateLimiter interface {
	Allow(ctx context.Context, key string, n int) (ratelimit.Decision, error)
}

var _ RateLimiter = (*ratelimit.Limiter)(nil)

// GlobalKey is a RateLimitOptions.Key that puts every request in one bucket:
// a global limit for the service (or route) instead of a per-client one.
func GlobalKey(*http.Request) (string, error) { return "global", nil }

// ClientIP keys by the connection's peer address, trusting no proxy: the
// IPv4 address, or the IPv6 /64 network. Behind proxies, set
// RateLimitOptions.ClientIP (or StackOptions.ClientIP) to a
// ClientIPResolver that trusts them.
func ClientIP(r *http.Request) (string, error) { return defaultClientIP.Key(r) }

// HeaderKey returns a Key that limits by the value of header (for example
// an API-key header), answering 400 when it is missing or malformed.
func HeaderKey(header string) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		v := r.Header.Get(header)
		if !validToken(v, 256) {
			return "", badInput("httpx: missing or invalid " + header + " header")
		}
		return v, nil
	}
}

// RateLimitOptions configure RateLimit. The zero value (or nil) is valid.
type RateLimitOptions struct {
	// Key names the caller's bucket; default ClientIP's Key (the client
	// address behind the trusted proxies). An error (for example a missing
	// API key) is written with Error.
	Key func(*http.Request) (string, error)
	// ClientIP resolves the client address for the default Key. Default:
	// no trusted proxy (the connection's peer), IPv6 keyed by /64.
	ClientIP *ClientIPResolver
	// Cost is how many units a request takes; default 1.
	Cost func(*http.Request) int
	// Prefix is prepended to keys, so several limits can share a backend.
	Prefix string
	// NoLegacyHeaders omits the X-RateLimit-* headers.
	NoLegacyHeaders bool
	// Clock computes X-RateLimit-Reset (a Unix time). Default real time.
	Clock clock.Clock
}

// RateLimit admits requests through l and answers 429 problem+json with
// Retry-After when it refuses. Every response carries RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset (seconds until the limit is fully
// reset, per the IETF RateLimit header draft) and, unless disabled, the
// X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (Unix
// seconds, as GitHub and others send it) equivalents. When l fails (its
// failure policy returned an error) the answer is 503 with Retry-After; a
// request whose cost exceeds the limiter's capacity (it could never be
// admitted) or whose key is empty is a 400.
//
// Chain two RateLimits for a per-client and a global limit:
//
//	httpx.Chain(httpx.RateLimit(perClient, nil), httpx.RateLimit(global, &httpx.RateLimitOptions{Key: httpx.GlobalKey}))
func RateLimit(l RateLimiter, opts *RateLimitOptions) Middleware {
	var o RateLimitOptions
	if opts != nil {
		o = *opts
	}
	if o.Key == nil {
		o.Key = o.ClientIP.Key
	}
	clk := clock.Or(o.Clock)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key, err := o.Key(r)
			if err != nil {
				Error(w, r, err)
				return
			}
			n := 1
			if o.Cost != nil {
				if n = o.Cost(r); n < 1 {
					n = 1
				}
			}
			if o.Prefix != "" {
				key = o.Prefix + key
			}
			if key == "" {
				Error(w, r, badInput("httpx: empty rate-limit key"))
				return
			}
			d, err := l.Allow(r.Context(), key, n)
			if err != nil {
				if r.Context().Err() != nil {
					return // client gone
				}
				if errors.Is(err, ratelimit.ErrExceedsCapacity) {
					Error(w, r, badInput("httpx: request cost "+strconv.Itoa(n)+" exceeds the rate limit"))
					return
				}
				retry := d.RetryAfter
				if retry <= 0 {
					retry = time.Second
				}
				w.Header().Set("Retry-After", ceilSeconds(retry))
				Error(w, r, &Problem{Status: http.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "rate limiter unavailable"})
				return
			}
			setRateLimitHeaders(w.Header(), d, clk.Now(), !o.NoLegacyHeaders)
			if !d.Allowed {
				w.Header().Set("Retry-After", ceilSeconds(d.RetryAfter))
				WriteProblem(w, r, NewProblem(http.StatusTooManyRequests, "rate limit exceeded; retry after "+ceilSeconds(d.RetryAfter)+"s"))
				return
			}
			if d.Delay > 0 { // leaky bucket pacing
				t := clk.NewTimer(d.Delay)
				select {
				case <-t.C():
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func setRateLimitHeaders(h http.Header, d ratelimit.Decision, now time.Time, legacy bool) {
	limit := strconv.Itoa(d.Limit)
	rem := strconv.Itoa(max(d.Remaining, 0))
	reset := ceilSeconds(d.ResetAfter)
	h.Set("RateLimit-Limit", limit)
	h.Set("RateLimit-Remaining", rem)
	h.Set("RateLimit-Reset", reset)
	if legacy {
		h.Set("X-RateLimit-Limit", limit)
		h.Set("X-RateLimit-Remaining", rem)
		h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(d.ResetAfter).Add(time.Second-1).Unix(), 10))
	}
}

// ceilSeconds renders d as whole seconds, rounded up, at least 0.
func ceilSeconds(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
