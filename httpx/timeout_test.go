package httpx_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/httpx"
)

func TestTimeoutSetsDeadline(t *testing.T) {
	var left time.Duration
	h := httpx.Timeout(time.Minute, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, ok := r.Context().Deadline()
		if !ok {
			t.Error("no deadline")
		}
		left = time.Until(dl)
	}))
	serve(h, get("/"))
	if left <= 50*time.Second || left > time.Minute {
		t.Fatalf("deadline in %v", left)
	}
	// A shorter caller budget wins; a longer one does not.
	serve(h, get("/", "X-Request-Timeout", "2000"))
	if left > 2*time.Second || left < time.Second {
		t.Fatalf("header budget: deadline in %v", left)
	}
	serve(h, get("/", "X-Request-Timeout", "99999999"))
	if left <= 50*time.Second {
		t.Fatalf("longer header budget shortened nothing: %v", left)
	}
}

func TestTimeoutAnswers503WhenHandlerGivesUp(t *testing.T) {
	h := httpx.Timeout(time.Millisecond, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a well-behaved handler returns on cancellation
	}))
	w := serve(h, get("/"))
	problemOf(t, w, http.StatusServiceUnavailable)
	if w.Header().Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
	}
}

func TestTimeoutMalformedHeader(t *testing.T) {
	h := httpx.Timeout(time.Second, nil)(okHandler)
	for _, v := range []string{"abc", "-5", "0", "1.5", "+5", "99999999999999999999999", "5ms"} {
		problemOf(t, serve(h, get("/", "X-Request-Timeout", v)), http.StatusBadRequest)
	}
	ignoring := httpx.Timeout(time.Second, &httpx.TimeoutOptions{IgnoreHeader: true})(okHandler)
	if w := serve(ignoring, get("/", "X-Request-Timeout", "abc")); w.Code != 200 {
		t.Fatalf("IgnoreHeader: %d", w.Code)
	}
}

func TestTimeoutZeroUsesHeaderOnly(t *testing.T) {
	var has bool
	h := httpx.Timeout(0, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, has = r.Context().Deadline()
	}))
	serve(h, get("/"))
	if has {
		t.Fatal("deadline without limit or header")
	}
	serve(h, get("/", "X-Request-Timeout", "100"))
	if !has {
		t.Fatal("header budget ignored")
	}
}

func TestTimeoutTransportSendsBudget(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("X-Request-Timeout")
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := &http.Client{Transport: httpx.TimeoutTransport(nil, 0)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	ms, err := strconv.Atoi(got)
	if err != nil || ms <= 0 || ms > 5000 {
		t.Fatalf("X-Request-Timeout %q", got)
	}
	// Per-attempt timeout alone also sets the header.
	c = &http.Client{Transport: httpx.TimeoutTransport(nil, time.Second)}
	resp, err = c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ms, _ := strconv.Atoi(got); ms <= 0 || ms > 1000 {
		t.Fatalf("X-Request-Timeout %q", got)
	}
	// An expired context fails before sending.
	ctx2, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	r, _ = http.NewRequestWithContext(ctx2, http.MethodGet, srv.URL, nil)
	if _, err := httpx.TimeoutTransport(nil, 0).RoundTrip(r); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestBodyLimit(t *testing.T) {
	var readErr error
	h := httpx.BodyLimit(10)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, readErr = io.ReadAll(r.Body)
		if readErr != nil {
			httpx.Error(w, r, readErr)
		}
	}))
	// Declared too large: refused before the handler.
	w := serve(h, req(http.MethodPost, "/", strings.Repeat("x", 11)))
	problemOf(t, w, http.StatusRequestEntityTooLarge)
	// Undeclared (chunked) and too large: the read fails, 413.
	r := req(http.MethodPost, "/", "")
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader(strings.Repeat("y", 50))), -1
	problemOf(t, serve(h, r), http.StatusRequestEntityTooLarge)
	// At the limit: fine.
	if w := serve(h, req(http.MethodPost, "/", strings.Repeat("z", 10))); w.Code != 200 || readErr != nil {
		t.Fatalf("at limit: %d %v", w.Code, readErr)
	}
}

func TestDecodeJSON(t *testing.T) {
	type in struct {
		Name string `json:"name"`
	}
	h := httpx.BodyLimit(64)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v in
		if err := httpx.DecodeJSON(r, &v); err != nil {
			httpx.Error(w, r, err)
			return
		}
		_ = httpx.WriteJSON(w, http.StatusCreated, v)
	}))
	if w := serve(h, req(http.MethodPost, "/", `{"name":"a"}`, "Content-Type", "application/json")); w.Code != 201 || w.Body.String() != "{\"name\":\"a\"}\n" {
		t.Fatalf("valid: %d %s", w.Code, w.Body)
	}
	cases := []struct {
		body, ct string
		status   int
	}{
		{`{"name":1}`, "application/json", 400},
		{`{"name":"a","extra":1}`, "application/json", 400},
		{`{"name":"a"} {}`, "application/json", 400},
		{`{`, "application/json", 400},
		{``, "application/json", 400},
		{`{"name":"a"}`, "text/plain", 415},
		{`{"name":"a"}`, "application/json; charset=\"", 415},
		{`{"name":"` + strings.Repeat("a", 100) + `"}`, "", 413},
	}
	for _, c := range cases {
		r := req(http.MethodPost, "/", c.body)
		if c.ct != "" {
			r.Header.Set("Content-Type", c.ct)
		}
		problemOf(t, serve(h, r), c.status)
	}
}
