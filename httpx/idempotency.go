package httpx

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// HeaderIdempotencyKey is the request header naming an idempotent operation.
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderIdempotentReplayed is set to "true" on replayed responses.
const HeaderIdempotentReplayed = "Idempotent-Replayed"

// ErrInvalidIdempotencyKey is returned for an Idempotency-Key that is empty,
// longer than 255 bytes or not visible ASCII.
var ErrInvalidIdempotencyKey = badInput("httpx: invalid Idempotency-Key (1–255 visible ASCII characters)")

// IdempotencyOptions configure Idempotency. The zero value (or nil) is valid.
type IdempotencyOptions struct {
	// TTL is how long a completed response is replayed. Default 24h.
	TTL time.Duration
	// LockTTL bounds how long a key stays "in progress" if the process
	// dies mid-request; longer handlers must finish within it. Default 1m.
	LockTTL time.Duration
	// Methods that honour the header. Default POST and PATCH.
	Methods []string
	// Required answers 400 when one of Methods arrives without a key.
	Required bool
	// Scope separates callers' keys (for example by authenticated user):
	// its result is part of the store key. Default: none.
	Scope func(*http.Request) string
	// Prefix of store keys. Default "httpx:idem:".
	Prefix string
	// MaxBody is the largest request body fingerprinted and the largest
	// response body stored. Larger requests get 413; larger responses are
	// sent but not stored (the key is released). Default 1 MiB.
	MaxBody int64
	// Logger receives store errors. Default slog.Default().
	Logger *slog.Logger
	// MeterProvider receives the scalekit.httpx.idempotency counter (by
	// outcome: executed, replayed, conflict, mismatch, store_error).
	// Default the global one.
	MeterProvider metric.MeterProvider
	// Name is the scalekit.name attribute of the counter, so two
	// Idempotency middlewares never merge. Default "httpx".
	Name string
}

// idemMetrics counts outcomes, with the attribute options built once.
type idemMetrics struct {
	c                                                 metric.Int64Counter
	executed, replayed, conflict, mismatch, storeFail []metric.AddOption
}

func newIdemMetrics(mp metric.MeterProvider, name string) *idemMetrics {
	m := &idemMetrics{c: otelx.Must(otelx.Meter(mp, "httpx").Int64Counter("scalekit.httpx.idempotency",
		metric.WithUnit("{request}"), metric.WithDescription("Requests carrying an Idempotency-Key, by outcome.")))}
	n := otelx.Name(name, "httpx")
	opt := func(v string) []metric.AddOption {
		return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(n, attribute.String("scalekit.httpx.outcome", v)))}
	}
	m.executed, m.replayed, m.conflict, m.mismatch, m.storeFail =
		opt("executed"), opt("replayed"), opt("conflict"), opt("mismatch"), opt("store_error")
	return m
}

// idemRecord is what the store holds under a key.
type idemRecord struct {
	Done   bool                `json:"d"`
	FP     string              `json:"f"`
	Status int                 `json:"s,omitempty"`
	Header map[string][]string `json:"h,omitempty"`
	Body   []byte              `json:"b,omitempty"`
}

// Idempotency makes POST and PATCH requests carrying an Idempotency-Key
// safe to retry. The first request with a key runs; its status, headers
// and body are stored in store (any cache driver.Store: memorycache.Bytes
// in one process, rediscache across instances) for TTL, and later requests
// with the same key and the same method, path and body get that response
// replayed (with Idempotent-Replayed: true) without running the handler. A
// duplicate arriving while the first is still running gets 409 with
// Retry-After; the same key with a different method, path or body gets 422.
// 5xx responses are not stored: the key is released so the client can
// retry, and so are 408, 409, 425 and 429. A store failure answers 503. The
// fingerprint covers the method, path, query and body.
func Idempotency(store driver.Store, opts *IdempotencyOptions) Middleware {
	var o IdempotencyOptions
	if opts != nil {
		o = *opts
	}
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.LockTTL <= 0 {
		o.LockTTL = time.Minute
	}
	if len(o.Methods) == 0 {
		o.Methods = []string{http.MethodPost, http.MethodPatch}
	}
	if o.Prefix == "" {
		o.Prefix = "httpx:idem:"
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
	m := newIdemMetrics(o.MeterProvider, o.Name)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			applies := false
			for _, m := range o.Methods {
				applies = applies || m == r.Method
			}
			if !applies {
				next.ServeHTTP(w, r)
				return
			}
			key := r.Header.Get(HeaderIdempotencyKey)
			if key == "" && !o.Required {
				next.ServeHTTP(w, r)
				return
			}
			if !validToken(key, 255) {
				Error(w, r, ErrInvalidIdempotencyKey)
				return
			}
			idemServe(w, r, next, store, &o, m, key)
		})
	}
}

func idemServe(w http.ResponseWriter, r *http.Request, next http.Handler, store driver.Store, o *IdempotencyOptions, m *idemMetrics, key string) {
	ctx := r.Context()
	body, err := io.ReadAll(io.LimitReader(r.Body, o.MaxBody+1))
	if err != nil {
		Error(w, r, err)
		return
	}
	if int64(len(body)) > o.MaxBody {
		Error(w, r, &http.MaxBytesError{Limit: o.MaxBody})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery + "\n"))
	h.Write(body)
	fp := base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
	skey := o.Prefix
	if o.Scope != nil {
		skey += o.Scope(r) + ":"
	}
	skey += key

	pending, _ := json.Marshal(idemRecord{FP: fp})
	for attempt := 0; ; attempt++ {
		added, err := store.Add(ctx, skey, pending, o.LockTTL)
		if err != nil {
			idemStoreFailed(w, r, o, m, err)
			return
		}
		if added {
			break
		}
		raw, ok, err := store.Get(ctx, skey)
		if err != nil {
			idemStoreFailed(w, r, o, m, err)
			return
		}
		if !ok {
			if attempt < 2 {
				continue // expired between Add and Get
			}
			idemStoreFailed(w, r, o, m, errors.New("key flapping"))
			return
		}
		var rec idemRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			idemStoreFailed(w, r, o, m, err)
			return
		}
		switch {
		case rec.FP != fp:
			m.c.Add(ctx, 1, m.mismatch...)
			WriteProblem(w, r, NewProblem(http.StatusUnprocessableEntity,
				"Idempotency-Key was already used with a different request"))
		case !rec.Done:
			m.c.Add(ctx, 1, m.conflict...)
			w.Header().Set("Retry-After", "1")
			WriteProblem(w, r, NewProblem(http.StatusConflict,
				"a request with this Idempotency-Key is still being processed"))
		default:
			m.c.Add(ctx, 1, m.replayed...)
			hd := w.Header()
			for k, vs := range rec.Header {
				hd[k] = vs
			}
			hd.Set(HeaderIdempotentReplayed, "true")
			w.WriteHeader(rec.Status)
			_, _ = w.Write(rec.Body)
		}
		return
	}

	// Headers already set by outer middleware (CORS, rate-limit counters)
	// describe this request, not the stored response: remember them so
	// only what the handler set is stored and replayed.
	m.c.Add(ctx, 1, m.executed...)
	cw := &captureWriter{ResponseWriter: w, max: o.MaxBody, before: w.Header().Clone()}
	completed := false
	defer func() {
		if !completed { // panic or abort: release the key for a retry
			_ = store.Delete(context.WithoutCancel(ctx), skey)
		}
	}()
	next.ServeHTTP(cw, r)
	completed = true
	if cw.hijacked {
		_ = store.Delete(context.WithoutCancel(ctx), skey)
		return
	}
	if cw.status == 0 { // nothing written: net/http sends 200 with these headers
		cw.WriteHeader(http.StatusOK)
	}
	st := cw.status
	sctx := context.WithoutCancel(ctx)
	if st >= 500 || transientStatus[st] || cw.overflow {
		if err := store.Delete(sctx, skey); err != nil {
			idemLog(o).LogAttrs(ctx, slog.LevelWarn, "idempotency: release key", slog.String("key", key), slog.Any("error", err))
		}
		return
	}
	rec := idemRecord{Done: true, FP: fp, Status: st, Header: cw.header, Body: cw.buf.Bytes()}
	raw, _ := json.Marshal(rec)
	if err := store.Set(sctx, skey, raw, o.TTL); err != nil {
		idemLog(o).LogAttrs(ctx, slog.LevelWarn, "idempotency: store response", slog.String("key", key), slog.Any("error", err))
		_ = store.Delete(sctx, skey)
	}
}

func idemLog(o *IdempotencyOptions) *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

func idemStoreFailed(w http.ResponseWriter, r *http.Request, o *IdempotencyOptions, m *idemMetrics, err error) {
	if r.Context().Err() != nil {
		return
	}
	m.c.Add(r.Context(), 1, m.storeFail...)
	idemLog(o).LogAttrs(r.Context(), slog.LevelError, "idempotency store", slog.Any("error", err))
	w.Header().Set("Retry-After", "1")
	WriteProblem(w, r, NewProblem(http.StatusServiceUnavailable, "idempotency store unavailable"))
}

// transientStatus are 4xx answers that say "not now" rather than "never":
// they are not stored, so a retry with the same key runs the handler again.
var transientStatus = map[int]bool{
	http.StatusRequestTimeout: true, http.StatusConflict: true,
	http.StatusTooEarly: true, http.StatusTooManyRequests: true,
}

// unstoredHeaders are response headers not replayed.
var unstoredHeaders = map[string]bool{"Set-Cookie": true, "Date": true, "X-Request-Id": true}

// captureWriter passes the response through and keeps a copy of the
// status, headers and body (up to max bytes).
type captureWriter struct {
	http.ResponseWriter
	max      int64
	before   http.Header // headers set before the handler ran
	status   int
	header   map[string][]string
	buf      bytes.Buffer
	overflow bool
	hijacked bool
}

func (w *captureWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	if code >= 100 && code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.status = code
	w.header = make(map[string][]string)
	for k, vs := range w.ResponseWriter.Header() {
		if !unstoredHeaders[k] && !slices.Equal(vs, w.before[k]) {
			w.header[k] = append([]string(nil), vs...)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *captureWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.overflow {
		if int64(w.buf.Len()+len(p)) > w.max {
			w.overflow = true
			w.buf = bytes.Buffer{}
		} else {
			w.buf.Write(p)
		}
	}
	return w.ResponseWriter.Write(p)
}

// Flush forwards to the underlying writer.
func (w *captureWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection over; such a response is never stored.
func (w *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}
