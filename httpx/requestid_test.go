package httpx_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scalekit-go/scalekit/httpx"
)

func TestRequestIDAcceptsValidIncoming(t *testing.T) {
	var seen string
	h := httpx.RequestID(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = httpx.RequestIDFrom(r.Context())
	}))
	w := serve(h, get("/", "X-Request-ID", "req-42"))
	if seen != "req-42" || w.Header().Get("X-Request-ID") != "req-42" {
		t.Fatalf("context %q, header %q", seen, w.Header().Get("X-Request-ID"))
	}
}

func TestRequestIDReplacesMalformed(t *testing.T) {
	h := httpx.RequestID(nil)(okHandler)
	for _, bad := range []string{"has space", "tab\there", strings.Repeat("a", 129), "ünïcode", "\x7f"} {
		w := serve(h, get("/", "X-Request-ID", bad))
		got := w.Header().Get("X-Request-ID")
		if got == bad || got == "" || w.Code != 200 {
			t.Errorf("incoming %q: answered %d with ID %q", bad, w.Code, got)
		}
	}
	// 128 bytes is still accepted.
	ok := strings.Repeat("b", 128)
	if got := serve(h, get("/", "X-Request-ID", ok)).Header().Get("X-Request-ID"); got != ok {
		t.Fatalf("128-byte ID replaced by %q", got)
	}
}

func TestRequestIDGeneratesUnique(t *testing.T) {
	h := httpx.RequestID(nil)(okHandler)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := serve(h, get("/")).Header().Get("X-Request-ID")
		if id == "" || seen[id] {
			t.Fatalf("ID %q empty or repeated", id)
		}
		seen[id] = true
	}
}

func TestRequestIDOptions(t *testing.T) {
	h := httpx.RequestID(&httpx.RequestIDOptions{Header: "X-Trace", IgnoreIncoming: true,
		Generate: func() string { return "fixed" }})(okHandler)
	w := serve(h, get("/", "X-Trace", "from-client"))
	if w.Header().Get("X-Trace") != "fixed" {
		t.Fatalf("X-Trace = %q", w.Header().Get("X-Trace"))
	}
}

func TestLogHandlerAddsRequestID(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(httpx.LogHandler(slog.NewTextHandler(&buf, nil))).With("svc", "a").WithGroup("g")
	lg.InfoContext(httpx.WithRequestID(context.Background(), "rid-7"), "hello")
	lg.InfoContext(context.Background(), "bare")
	out := buf.String()
	if !strings.Contains(out, "rid-7") || strings.Count(out, "request_id") != 1 {
		t.Fatalf("log output:\n%s", out)
	}
}

func TestRequestIDTransportPropagates(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("X-Request-ID"))
	}))
	defer srv.Close()
	c := &http.Client{Transport: httpx.RequestIDTransport(nil)}
	ctx := httpx.WithRequestID(context.Background(), "outer-1")
	r1, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	r2, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	r2.Header.Set("X-Request-ID", "explicit")
	r3, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	for _, r := range []*http.Request{r1, r2, r3} {
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got[0] != "outer-1" || got[1] != "explicit" || got[2] != "" {
		t.Fatalf("server saw %q", got)
	}
	if r1.Header.Get("X-Request-ID") != "" {
		t.Fatal("transport modified the caller's request")
	}
}
