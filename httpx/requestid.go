package httpx

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
)

// HeaderRequestID is the default request-ID header.
const HeaderRequestID = "X-Request-ID"

// maxRequestIDLen bounds an accepted incoming request ID; longer or
// non-printable values are replaced by a generated one.
const maxRequestIDLen = 128

// RequestIDOptions configure RequestID. The zero value (or nil) is valid.
type RequestIDOptions struct {
	// Header carries the ID in and out. Default HeaderRequestID.
	Header string
	// Generate makes a new ID. Default NewRequestID.
	Generate func() string
	// IgnoreIncoming always generates a fresh ID instead of accepting the
	// caller's (use at a trust boundary).
	IgnoreIncoming bool
}

// RequestID accepts the caller's request ID (visible ASCII, at most 128
// bytes; anything else is replaced) or generates one, stores it in the
// request context (RequestIDFrom), and echoes it in the response header.
// RequestIDTransport copies it onto outgoing client requests and LogHandler
// adds it to every log record written with the context.
func RequestID(opts *RequestIDOptions) Middleware {
	var o RequestIDOptions
	if opts != nil {
		o = *opts
	}
	if o.Header == "" {
		o.Header = HeaderRequestID
	}
	if o.Generate == nil {
		o.Generate = NewRequestID
	}
	key := http.CanonicalHeaderKey(o.Header) // canonical once, not per request
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := ""
			if !o.IgnoreIncoming {
				if vs := r.Header[key]; len(vs) > 0 && validToken(vs[0], maxRequestIDLen) {
					id = vs[0]
				}
			}
			if id == "" {
				id = o.Generate()
			}
			w.Header()[key] = []string{id}
			st, r := requestState(r)
			st.id = id
			next.ServeHTTP(w, r)
		})
	}
}

// WithRequestID returns ctx carrying the request ID id.
func WithRequestID(ctx context.Context, id string) context.Context {
	if c := reqFrom(ctx); c != nil && c.id == id {
		return ctx
	}
	return &reqCtx{Context: ctx, id: id}
}

// RequestIDFrom returns the request ID carried by ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	if c := reqFrom(ctx); c != nil {
		return c.id
	}
	return ""
}

var (
	idPrefix  string
	idCounter atomic.Uint64
)

func init() {
	var b [10]byte
	_, _ = rand.Read(b[:])
	idPrefix = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// NewRequestID returns a process-unique ID: 16 random base32 characters
// chosen at start-up, a dash, and a base-36 sequence number. It is unique
// across processes with overwhelming probability, cheap (one allocation),
// and not secret.
func NewRequestID() string {
	var buf [16 + 1 + 13]byte
	n := copy(buf[:], idPrefix)
	buf[n] = '-'
	b := strconv.AppendUint(buf[:n+1], idCounter.Add(1), 36)
	return string(b)
}

// RequestIDTransport returns a RoundTripper that sets the X-Request-ID
// header of outgoing requests from their context (RequestIDFrom), unless
// the request already has one. next nil means http.DefaultTransport.
func RequestIDTransport(next http.RoundTripper) http.RoundTripper {
	next = orDefault(next)
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		id := RequestIDFrom(req.Context())
		if id == "" || req.Header.Get(HeaderRequestID) != "" {
			return next.RoundTrip(req)
		}
		req = req.Clone(req.Context())
		req.Header.Set(HeaderRequestID, id)
		return next.RoundTrip(req)
	})
}

// LogHandler wraps h so that every record logged with a context carrying a
// request ID gets a "request_id" attribute, once: records that already
// carry one (the access log's, Recover's) are left as they are.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestIDFrom(ctx); id != "" && !hasAttr(r, "request_id") {
		r.AddAttrs(slog.String("request_id", id))
	}
	return l.Handler.Handle(ctx, r)
}

// hasAttr reports whether r already carries a top-level attribute key
// (the access log and Recover add request_id themselves).
func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (l logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(as)}
}

func (l logHandler) WithGroup(name string) slog.Handler {
	return logHandler{l.Handler.WithGroup(name)}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func orDefault(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		return http.DefaultTransport
	}
	return rt
}
