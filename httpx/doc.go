// Package httpx is the REST middleware a production Go service needs,
// written as plain net/http middleware (func(http.Handler) http.Handler) so
// it composes with any router, plus the helpers handlers call.
//
// Every answer this package writes on its own is an RFC 9457 problem
// (application/problem+json, Problem, WriteProblem, Error) carrying the
// request ID; malformed input (bad header values, invalid ETags, cursors,
// non-numeric limits, unknown sort fields) is always a 400 problem, never a
// 500, and a handler panic is a bare 500 that reveals nothing. Error shows
// clients only messages marked client-safe (ClientError, ClientMessager),
// never the wrapped error chain around them.
//
// Middleware, in the order DefaultStack composes them:
//
//   - RequestID: accepts or generates X-Request-ID, puts it in the context
//     (RequestIDFrom), the response, logs (LogHandler) and outgoing calls
//     (RequestIDTransport).
//   - Telemetry: an OpenTelemetry server span per request and the
//     http.server.* metrics of the HTTP semantic conventions (what otelhttp
//     emits, without its per-request cost); Routes and SetRoute name the
//     route.
//   - AccessLog (log/slog) and Recover (panic → problem 500).
//   - CORS: preflights answered by the middleware, origins by list,
//     wildcard subdomain or callback.
//   - Shed: an AdaptiveLimiter (Gradient or AIMD on latency) refuses work
//     with 503 and Retry-After once the service saturates; Low priority
//     first, Critical (health probes) never.
//   - RateLimit: per-client and global limits over package ratelimit
//     (memrate in process, redisrate across instances), 429 with
//     Retry-After, RateLimit-* and X-RateLimit-* headers.
//   - Timeout (a context deadline, shortened by the caller's
//     X-Request-Timeout budget) and BodyLimit (413).
//   - Compress: gzip or deflate as Accept-Encoding negotiates, only for
//     compressible types above a size, with Vary: Accept-Encoding.
//   - ETags: automatic strong ETags and 304s on GET; CheckPreconditions
//     gives writes If-Match / If-Unmodified-Since (412).
//   - Sessions: server-side sessions in a cache driver.Store (memory or
//     Redis) behind an HMAC-signed cookie.
//   - Idempotency: Idempotency-Key on POST/PATCH, scoped to the caller
//     (WithPrincipal, else the client address); the first request runs,
//     a concurrent duplicate gets 409, a later one the stored response, the
//     same key with a different body 422; the store is a cache
//     driver.Store with a TTL.
//
// Helpers: Negotiate / Negotiation (406), DecodeJSON / WriteJSON,
// ParseCollection (limit and offset with defaults and maxima, signed
// opaque cursors from a CursorCodec, sort=-a,+b, fields=, filters) and
// SetPageHeaders (X-Total-Count and Link first/prev/next/last),
// CacheControl and AddVary, Health (/healthz, /readyz with checks), and
// Server, an http.Server with production timeouts whose Shutdown fails
// readiness and drains in-flight requests.
//
// Every wrapping ResponseWriter forwards Flush, Hijack and Unwrap, so
// server-sent events and WebSocket upgrades work behind the whole stack.
//
// Every middleware and helper is safe for concurrent use once built.
// Client-side http.RoundTripper wrappers (retries, circuit breaking,
// hedging) live in this package too; see their own documentation.
package httpx
