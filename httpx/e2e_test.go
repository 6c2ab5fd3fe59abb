package httpx_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
)

type item struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// demoAPI is a small service built from the package's helpers.
func demoAPI(t *testing.T, health *httpx.Health) http.Handler {
	items := make([]item, 57)
	for i := range items {
		items[i] = item{ID: i + 1, Name: fmt.Sprintf("item-%02d %s", i+1, strings.Repeat("padding ", 10))}
	}
	spec := &httpx.CollectionSpec{DefaultLimit: 10, MaxLimit: 50, Sortable: []string{"id", "name"}, Fields: []string{"id", "name"},
		Filters: map[string][]string{"name": {httpx.OpEq}}}
	mux := http.NewServeMux()
	health.Register(mux)
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, r *http.Request) {
		if _, err := httpx.Negotiate(r, "application/json"); err != nil {
			httpx.Error(w, r, err)
			return
		}
		c, err := httpx.ParseCollection(r, spec)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		list := slices.Clone(items)
		if len(c.Sort) > 0 && c.Sort[0].Name == "id" && c.Sort[0].Desc {
			slices.Reverse(list)
		}
		end := min(c.Offset+c.Limit, len(list))
		page := list[min(c.Offset, len(list)):end]
		httpx.SetPageHeaders(w, r, c, httpx.Page{Total: int64(len(list))})
		_ = httpx.WriteJSON(w, http.StatusOK, page)
	})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Item int `json:"item"`
		}
		if err := httpx.DecodeJSON(r, &in); err != nil {
			httpx.Error(w, r, err)
			return
		}
		w.Header().Set("Location", "/orders/1")
		_ = httpx.WriteJSON(w, http.StatusCreated, map[string]any{"item": in.Item, "at": time.Now().UnixNano()})
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("secret-token-123") })
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := httpx.SessionFrom(r.Context())
		s.Renew()
		s.Set("user", r.URL.Query().Get("user"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		u, _ := httpx.SessionFrom(r.Context()).Get("user")
		_ = httpx.WriteJSON(w, http.StatusOK, map[string]string{"user": u})
	})
	mux.HandleFunc("GET /expensive", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return httpx.Routes(mux)
}

func TestEndToEndFullStack(t *testing.T) {
	o := newOtelHarness()
	limiter, err := memrate.New(ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 100, Period: time.Minute, Burst: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	idemStore, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 1000})
	sessStore, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 1000})
	sessions, err := httpx.NewSessions(sessStore, [][]byte{sessKey1}, &httpx.SessionOptions{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	health := httpx.NewHealth(nil)
	stack := httpx.DefaultStack(&httpx.StackOptions{
		Logger:      quiet,
		Telemetry:   o.opts,
		CORS:        &httpx.CORSOptions{AllowedOrigins: []string{"https://app.example.com"}},
		Shed:        httpx.NewAdaptiveLimiter(nil),
		RateLimiter: limiter,
		RateLimit: &httpx.RateLimitOptions{Cost: func(r *http.Request) int {
			if r.URL.Path == "/expensive" {
				return 60
			}
			return 1
		}},
		ETags:       &httpx.ETagsOptions{},
		Sessions:    sessions,
		Idempotency: idemStore,
	})
	srv := httpx.NewServer("", stack(demoAPI(t, health)), &httpx.ServerOptions{Health: health, Logger: quiet, MaxHeaderBytes: 8 << 10})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx, l) }()
	base := "http://" + l.Addr().String()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}

	do := func(method, path, body string, hdr ...string) (*http.Response, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		r, err := http.NewRequest(method, base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	expectProblem := func(resp *http.Response, body string, status int) {
		t.Helper()
		if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("want %d problem, got %d %s: %s", status, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(body), &p); err != nil || p["request_id"] == nil {
			t.Fatalf("problem body %s", body)
		}
	}

	// A collection page: compressed on the wire, paginated, with an ETag.
	resp, body := do("GET", "/items?limit=20&offset=20&sort=-id", "")
	var page []item
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page) != 20 || page[0].ID != 37 {
		t.Fatalf("page %d items, err %v: %.80s", len(page), err, body)
	}
	if !resp.Uncompressed || resp.Header.Get("X-Total-Count") != "57" || resp.Header.Get("X-Request-ID") == "" ||
		!strings.Contains(resp.Header.Get("Link"), `rel="next"`) || !strings.Contains(resp.Header.Get("Link"), "offset=40") ||
		resp.Header.Get("RateLimit-Limit") != "100" {
		t.Fatalf("headers %v (uncompressed by transport: %v)", resp.Header, resp.Uncompressed)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	resp, _ = do("GET", "/items?limit=20&offset=20&sort=-id", "", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", resp.StatusCode)
	}

	// Malformed input is 400 problem+json, never 500.
	for _, bad := range []struct{ path, h, v string }{
		{"/items?limit=abc", "", ""},
		{"/items?limit=5000", "", ""},
		{"/items?sort=password", "", ""},
		{"/items?fields=secret", "", ""},
		{"/items?cursor=x", "", ""},
		{"/items?name[gt]=a", "", ""},
		{"/items", "If-None-Match", "not-an-etag"},
		{"/items", "Accept", "text/html;q=oops"},
		{"/items", "X-Request-Timeout", "soon"},
	} {
		hdr := []string{}
		if bad.h != "" {
			hdr = []string{bad.h, bad.v}
		}
		resp, body := do("GET", bad.path, "", hdr...)
		expectProblem(resp, body, http.StatusBadRequest)
	}
	resp, body = do("GET", "/items", "", "Accept", "image/png")
	expectProblem(resp, body, http.StatusNotAcceptable)
	resp, body = do("POST", "/orders", `{"item":`, "Content-Type", "application/json")
	expectProblem(resp, body, http.StatusBadRequest)
	resp, body = do("POST", "/orders", strings.Repeat("x", 2<<20), "Content-Type", "application/json")
	expectProblem(resp, body, http.StatusRequestEntityTooLarge)

	// Huge headers are refused by the server itself.
	resp, _ = do("GET", "/items", "", "X-Junk", strings.Repeat("j", 16<<10))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("huge header: %d", resp.StatusCode)
	}

	// Idempotent POST: the retry replays the first response.
	resp1, body1 := do("POST", "/orders", `{"item":7}`, "Content-Type", "application/json", "Idempotency-Key", "order-7")
	resp2, body2 := do("POST", "/orders", `{"item":7}`, "Content-Type", "application/json", "Idempotency-Key", "order-7")
	if resp1.StatusCode != 201 || resp2.StatusCode != 201 || body1 != body2 || resp2.Header.Get("Idempotent-Replayed") != "true" ||
		resp2.Header.Get("Location") != "/orders/1" {
		t.Fatalf("idempotent replay: %d %d %q %q", resp1.StatusCode, resp2.StatusCode, body1, body2)
	}
	resp, body = do("POST", "/orders", `{"item":8}`, "Content-Type", "application/json", "Idempotency-Key", "order-7")
	expectProblem(resp, body, http.StatusUnprocessableEntity)

	// A panic is a bare 500 problem.
	resp, body = do("GET", "/panic", "")
	expectProblem(resp, body, http.StatusInternalServerError)
	if strings.Contains(body, "secret-token") || strings.Contains(body, "goroutine") {
		t.Fatalf("panic leaked: %s", body)
	}

	// CORS preflight and decorated responses.
	resp, _ = do("OPTIONS", "/orders", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "Content-Type, Idempotency-Key")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("preflight %d %v", resp.StatusCode, resp.Header)
	}

	// Sessions through the client's cookie jar.
	resp, _ = do("POST", "/login?user=dana", "")
	if resp.StatusCode != 204 {
		t.Fatalf("login %d", resp.StatusCode)
	}
	if _, body := do("GET", "/me", ""); !strings.Contains(body, `"dana"`) {
		t.Fatalf("me: %s", body)
	}

	// Rate limiting: /expensive costs 60 of 100.
	resp, _ = do("GET", "/expensive", "", "Origin", "https://app.example.com")
	if resp.StatusCode != 204 {
		t.Fatalf("expensive: %d", resp.StatusCode)
	}
	resp, body = do("GET", "/expensive", "", "Origin", "https://app.example.com")
	expectProblem(resp, body, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("429 headers %v", resp.Header)
	}

	// Readiness, then a graceful stop.
	if resp, _ := do("GET", "/readyz", ""); resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
	if n := len(o.spans.GetSpans()); n < 20 {
		t.Fatalf("only %d spans recorded", n)
	}
	stop()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
