package httpx

import (
	"bufio"
	"net"
	"net/http"
)

// MuxProblems turns the plain-text 404 and 405 answers of http.ServeMux
// ("404 page not found", "Method Not Allowed", written with http.Error)
// into problem+json, keeping the 405's Allow header, so that a client sees
// one error format. Other responses, including a handler's own 404 or 405
// with its own body, pass unchanged. DefaultStack installs it innermost.
func MuxProblems() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mw := &muxProblemWriter{ResponseWriter: w, r: r}
			next.ServeHTTP(mw, r)
			mw.finish()
		})
	}
}

// muxBodies are ServeMux's canned error bodies, as http.Error writes them.
var muxBodies = map[int]string{
	http.StatusNotFound:         "404 page not found\n",
	http.StatusMethodNotAllowed: "Method Not Allowed\n",
}

// muxProblemWriter holds back a 404 or 405 written by http.Error until
// the body shows whether it is ServeMux's own.
type muxProblemWriter struct {
	http.ResponseWriter
	r       *http.Request
	pending int  // status held back, 0 when none
	done    bool // the header went out (or the problem replaced it)
	swallow bool // the problem was written: drop the handler's bytes
}

func (w *muxProblemWriter) WriteHeader(code int) {
	if w.done || w.pending != 0 {
		return
	}
	h := w.Header()
	if _, canned := muxBodies[code]; canned && h.Get("Content-Type") == "text/plain; charset=utf-8" &&
		h.Get("X-Content-Type-Options") == "nosniff" {
		w.pending = code
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.done = true
	}
	w.ResponseWriter.WriteHeader(code)
}

// release sends the held-back header unchanged.
func (w *muxProblemWriter) release() {
	if w.pending != 0 {
		code := w.pending
		w.pending, w.done = 0, true
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *muxProblemWriter) Write(p []byte) (int, error) {
	if w.swallow {
		return len(p), nil
	}
	if w.pending != 0 {
		if string(p) == muxBodies[w.pending] {
			code := w.pending
			w.pending, w.done, w.swallow = 0, true, true
			h := w.Header()
			h.Del("X-Content-Type-Options")
			WriteProblem(w.ResponseWriter, w.r, NewProblem(code, ""))
			return len(p), nil
		}
		w.release()
	}
	w.done = true
	return w.ResponseWriter.Write(p)
}

func (w *muxProblemWriter) finish() { w.release() }

// Flush sends a held-back header first.
func (w *muxProblemWriter) Flush() {
	w.release()
	w.done = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *muxProblemWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection over.
func (w *muxProblemWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
