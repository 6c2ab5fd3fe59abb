package httpx

import (
	"bufio"
	"net"
	"net/http"
)

// Middleware is the standard net/http middleware shape. Every server-side
// feature of this package is a Middleware (or returns one), so they compose
// with any router that accepts an http.Handler.
type Middleware = func(http.Handler) http.Handler

// Chain composes middlewares into one. The first is the outermost: it sees
// the request first and the response last. Nil entries are skipped, which
// lets callers build a chain with optional parts.
func Chain(mws ...Middleware) Middleware {
	return func(h http.Handler) http.Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			if mws[i] != nil {
				h = mws[i](h)
			}
		}
		return h
	}
}

// responseWriter records the status and size of a response. Middlewares
// that need them (access log, telemetry, recovery, timeouts) share one
// instance per request: wrapWriter returns the existing one when w already
// is one, so a default stack allocates it once.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func wrapWriter(w http.ResponseWriter) *responseWriter {
	if rw, ok := w.(*responseWriter); ok {
		return rw
	}
	return &responseWriter{ResponseWriter: w}
}

// WriteHeader records the status and forwards it once.
func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational responses (103 Early Hints) do not end the header.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.status, w.wroteHeader = code, true
	w.ResponseWriter.WriteHeader(code)
}

// Write forwards p, sending an implicit 200 first.
func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush forwards to the underlying writer when it can flush.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection to the handler (WebSocket upgrades, for
// libraries that assert http.Hijacker). The response counts as started
// with 101, so no middleware writes to the connection afterwards.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.status, w.wroteHeader = http.StatusSwitchingProtocols, true
	}
	return c, rw, err
}

// Status returns the status sent so far (200 if the handler wrote a body
// without a status, 0 if nothing was sent).
func (w *responseWriter) Status() int { return w.status }

// validToken reports whether s is a non-empty header value of visible ASCII
// characters (0x21–0x7e) no longer than max.
func validToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// headerValue is h.Get for a key already in canonical form, without
// re-validating and canonicalising it on every call.
func headerValue(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}
