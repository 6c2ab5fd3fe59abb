package httpx_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/httpx"
)

func TestChainOrderAndNil(t *testing.T) {
	var trace []string
	mark := func(name string) httpx.Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				trace = append(trace, name+">")
				next.ServeHTTP(w, r)
				trace = append(trace, "<"+name)
			})
		}
	}
	h := httpx.Chain(mark("a"), nil, mark("b"))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { trace = append(trace, "h") }))
	serve(h, get("/"))
	if got := strings.Join(trace, " "); got != "a> b> h <b <a" {
		t.Fatalf("order %q", got)
	}
	if serve(httpx.Chain()(okHandler), get("/")).Body.String() != "ok" {
		t.Fatal("empty chain")
	}
}

// Every wrapping writer must let http.ResponseController reach the
// connection (Flush here) and must stream once flushed.
func TestResponseControllerThroughFullStack(t *testing.T) {
	store, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 100})
	sessions, _ := httpx.NewSessions(store, [][]byte{sessKey1}, &httpx.SessionOptions{Insecure: true})
	stack := httpx.DefaultStack(&httpx.StackOptions{NoAccessLog: true, ETags: &httpx.ETagsOptions{}, Sessions: sessions, Idempotency: store})
	var flushErr error
	h := stack(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: 1\n\n"))
		flushErr = http.NewResponseController(w).Flush()
		_, _ = w.Write([]byte("data: 2\n\n"))
	}))
	for _, r := range []*http.Request{get("/events", "Accept-Encoding", "gzip"), req("POST", "/events", "{}", "Idempotency-Key", "k1")} {
		w := serve(h, r)
		if flushErr != nil || !w.Flushed || w.Code != 200 {
			t.Fatalf("%s: flush err %v, flushed %v, code %d", r.Method, flushErr, w.Flushed, w.Code)
		}
	}
}

func TestDefaultStackOptions(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, dl := r.Context().Deadline()
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		fmt.Fprintf(w, "%d %v", n, dl)
	})
	big := strings.Repeat("x", 2<<20)
	// Defaults: 1 MiB body limit, a deadline, Vary from compression.
	h := httpx.DefaultStack(&httpx.StackOptions{Logger: quiet})(echo)
	problemOf(t, serve(h, req("POST", "/", big)), http.StatusRequestEntityTooLarge)
	w := serve(h, req("POST", "/", "abc"))
	if w.Body.String() != "3 true" || w.Header().Get("Vary") != "Accept-Encoding" || w.Header().Get("X-Request-ID") == "" {
		t.Fatalf("defaults: %q %v", w.Body, w.Header())
	}
	// Everything optional switched off.
	h = httpx.DefaultStack(&httpx.StackOptions{Logger: quiet, NoTelemetry: true, NoAccessLog: true, NoCompress: true,
		Timeout: -1, MaxBodyBytes: -1})(echo)
	w = serve(h, req("POST", "/", big))
	if w.Body.String() != fmt.Sprintf("%d false", len(big)) || w.Header().Get("Vary") != "" {
		t.Fatalf("all off: %.40q %v", w.Body, w.Header())
	}
	// Recovery is always on.
	h = httpx.DefaultStack(&httpx.StackOptions{Logger: quiet})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("x") }))
	problemOf(t, serve(h, get("/")), 500)
}
