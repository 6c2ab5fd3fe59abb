package httpx_test

import (
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
