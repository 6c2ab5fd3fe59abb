package bench

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/scalekit-go/scalekit/httpx"
)

var httpBody = []byte(`{"id":42,"name":"widget","price":1999}` + "\n")

// httpTrivial is the handler both sides serve: a small JSON body.
var httpTrivial = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(httpBody)
})

// httpStack is httpx.DefaultStack with its default options, the access
// log going to a JSON logger on io.Discard (the default, slog.Default(),
// would write to the benchmark's output).
func httpStack() http.Handler {
	lg := slog.New(slog.NewJSONHandler(io.Discard, nil))
	return httpx.DefaultStack(&httpx.StackOptions{Logger: lg})(httpTrivial)
}

func httpServe(b *testing.B, h http.Handler) {
	r := httptest.NewRequest(http.MethodGet, "/items/42", nil)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Encoding", "gzip")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkCmpHTTPStack: the cost the recommended server middleware
// (request ID, telemetry without an SDK, access log, recovery, timeout,
// body limit, compression negotiation) adds to a trivial handler, served
// in process (httptest.NewRecorder + ServeHTTP, no network).
func BenchmarkCmpHTTPStack(b *testing.B) {
	b.Run("scalekit", func(b *testing.B) { httpServe(b, httpStack()) })
	b.Run("bare", func(b *testing.B) { httpServe(b, httpTrivial) })
}

// TestHTTPStackServes checks both contenders answer 200 with the body.
func TestHTTPStackServes(t *testing.T) {
	for _, h := range []http.Handler{httpStack(), httpTrivial} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/items/42", nil))
		if w.Code != http.StatusOK || w.Body.String() != string(httpBody) {
			t.Fatalf("status %d body %q", w.Code, w.Body.String())
		}
	}
}
