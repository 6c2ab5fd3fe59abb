package httpx

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/scalekit-go/scalekit/clock"
)

// AccessLogOptions configure AccessLog. The zero value (or nil) is valid.
type AccessLogOptions struct {
	// Skip, when it returns true, suppresses the record of a request (for
	// example health probes).
	Skip func(*http.Request) bool
	// Clock measures durations. Default real time.
	Clock clock.Clock
}

// AccessLog writes one structured record per request to logger (nil means
// slog.Default()) after the handler returns: method, path, status, bytes,
// duration, remote address, user agent and request ID. Level is Info below
// 500 and Error from 500.
func AccessLog(logger *slog.Logger, opts *AccessLogOptions) Middleware {
	var o AccessLogOptions
	if opts != nil {
		o = *opts
	}
	clk := clock.Or(o.Clock)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if o.Skip != nil && o.Skip(r) {
				next.ServeHTTP(w, r)
				return
			}
			lg := logger
			if lg == nil {
				lg = slog.Default()
			}
			rw := wrapWriter(w)
			start := clk.Now()
			defer func() {
				ctx := r.Context()
				st := rw.status
				if st == 0 {
					st = http.StatusOK // handler wrote nothing: net/http sends 200
					if v := recover(); v != nil {
						logAccess(ctx, lg, r, http.StatusInternalServerError, rw.bytes, start, clk.Now())
						panic(v)
					}
				}
				logAccess(ctx, lg, r, st, rw.bytes, start, clk.Now())
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

func logAccess(ctx context.Context, lg *slog.Logger, r *http.Request, status int, n int64, start, end time.Time) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	h := lg.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	// The record is built here rather than with Logger.LogAttrs, which
	// would also capture the caller's program counter (a runtime.Callers
	// walk per request) for a source location that is always this line.
	rec := slog.NewRecord(end, level, "http request", 0)
	rec.AddAttrs(
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes", n),
		slog.Duration("duration", end.Sub(start)),
		slog.String("remote", r.RemoteAddr),
		slog.String("user_agent", headerValue(r.Header, "User-Agent")),
		slog.String("request_id", RequestIDFrom(ctx)),
	)
	_ = h.Handle(ctx, rec)
}

// RecoverOptions configure Recover. The zero value (or nil) is valid.
type RecoverOptions struct {
	// Logger receives the panic value and stack. Default slog.Default().
	Logger *slog.Logger
}

// Recover turns a handler panic into a problem+json 500 (when the response
// has not started) without revealing the panic value or stack to the
// client; both are logged. http.ErrAbortHandler is re-panicked, as net/http
// expects, so the connection is aborted silently.
func Recover(opts *RecoverOptions) Middleware {
	var o RecoverOptions
	if opts != nil {
		o = *opts
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := wrapWriter(w)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				lg := o.Logger
				if lg == nil {
					lg = slog.Default()
				}
				lg.LogAttrs(r.Context(), slog.LevelError, "http handler panic",
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())),
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("request_id", RequestIDFrom(r.Context())),
				)
				if rw.wroteHeader {
					// Too late for a problem: abort so the client sees a
					// broken response rather than a truncated success.
					panic(http.ErrAbortHandler)
				}
				WriteProblem(rw, r, NewProblem(http.StatusInternalServerError, ""))
			}()
			next.ServeHTTP(rw, r)
		})
	}
}
