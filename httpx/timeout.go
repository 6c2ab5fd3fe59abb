package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// HeaderTimeout carries a caller's remaining time budget, in whole
// milliseconds, from client to server (like gRPC's grpc-timeout).
// TimeoutTransport sets it from the request context's deadline; Timeout
// honours it when it is shorter than the server's own limit.
const HeaderTimeout = "X-Request-Timeout"

// ErrInvalidTimeout is returned for a malformed X-Request-Timeout header.
var ErrInvalidTimeout = badInput("httpx: invalid " + HeaderTimeout + " header (want a positive integer of milliseconds)")

// TimeoutOptions configure Timeout. The zero value (or nil) is valid.
type TimeoutOptions struct {
	// IgnoreHeader disables the X-Request-Timeout header (use at a trust
	// boundary where callers may not shorten deadlines).
	IgnoreHeader bool
}

// Timeout gives each request a context deadline of d from its arrival, or
// the caller's X-Request-Timeout budget when that is shorter, so handlers
// and the calls they make (databases, TimeoutTransport) stop together.
// When the deadline passes and the handler returns without writing a
// response, Timeout answers 503 problem+json with Retry-After: 1. A
// malformed X-Request-Timeout is a 400. Handlers must honour their context;
// Timeout does not abandon a running handler.
func Timeout(d time.Duration, opts *TimeoutOptions) Middleware {
	var o TimeoutOptions
	if opts != nil {
		o = *opts
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			budget := d
			if !o.IgnoreHeader {
				if v := r.Header.Get(HeaderTimeout); v != "" {
					ms, err := strconv.ParseInt(v, 10, 64)
					if err != nil || ms <= 0 || v[0] == '+' {
						Error(w, r, ErrInvalidTimeout)
						return
					}
					if hb := time.Duration(ms) * time.Millisecond; ms < int64(time.Duration(1<<62)/time.Millisecond) && (budget <= 0 || hb < budget) {
						budget = hb
					}
				}
			}
			if budget <= 0 {
				next.ServeHTTP(w, r)
				return
			}
			ctx := newLazyDeadline(r.Context(), time.Now().Add(budget))
			defer ctx.release()
			rw := wrapWriter(w)
			next.ServeHTTP(rw, r.WithContext(ctx))
			timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
			if rc := reqFrom(r.Context()); rc != nil && timedOut {
				rc.timedOut = true
			}
			if !rw.wroteHeader && timedOut {
				rw.Header().Set("Retry-After", "1")
				WriteProblem(rw, r, NewProblem(http.StatusServiceUnavailable, "request timed out after "+budget.String()))
			}
		})
	}
}

// TimeoutTransport returns a RoundTripper that bounds each attempt to d
// (when d > 0) and tells the server the remaining budget in
// X-Request-Timeout whenever the request context has a deadline. The
// attempt's context is released when the response body is closed. next nil
// means http.DefaultTransport.
func TimeoutTransport(next http.RoundTripper, d time.Duration) http.RoundTripper {
	next = orDefault(next)
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		ctx, cancel := req.Context(), context.CancelFunc(func() {})
		if d > 0 {
			ctx, cancel = context.WithTimeout(ctx, d)
		}
		if dl, ok := ctx.Deadline(); ok {
			left := time.Until(dl)
			if left <= 0 {
				cancel()
				return nil, context.DeadlineExceeded
			}
			req = req.Clone(ctx)
			ms := (left + time.Millisecond - 1) / time.Millisecond
			req.Header.Set(HeaderTimeout, strconv.FormatInt(int64(ms), 10))
		}
		resp, err := next.RoundTrip(req)
		if err != nil {
			cancel()
			return nil, err
		}
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	})
}

// cancelBody releases a per-attempt context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// BodyLimit caps request bodies at n bytes: a declared Content-Length above
// n is refused at once with 413 problem+json, and a body that turns out
// longer makes reads fail with *http.MaxBytesError, which DecodeJSON and
// Error turn into 413.
func BodyLimit(n int64) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				w.Header().Set("Connection", "close")
				Error(w, r, &http.MaxBytesError{Limit: n})
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}
