package httpx_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/scalekit-go/scalekit/httpx"
)

func TestProblemJSONRoundTrip(t *testing.T) {
	p := &httpx.Problem{Type: "https://example.com/out-of-credit", Title: "Out of credit", Status: 403,
		Detail: "balance 30, cost 50", Instance: "/accounts/12", Extensions: map[string]any{"balance": 30.0}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q httpx.Problem
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*p, q) {
		t.Fatalf("round trip: got %+v, want %+v", q, *p)
	}
	if p.Error() != "Out of credit: balance 30, cost 50" {
		t.Fatalf("Error() = %q", p.Error())
	}
}

func TestProblemDefaults(t *testing.T) {
	var zero httpx.Problem
	b, _ := json.Marshal(&zero)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m["type"] != "about:blank" || m["status"] != 500.0 || m["title"] != "Internal Server Error" {
		t.Fatalf("zero problem = %s", b)
	}
	if (&httpx.Problem{Status: 200}).HTTPStatus() != 500 {
		t.Fatal("a non-error status must become 500")
	}
	var bad httpx.Problem
	if err := json.Unmarshal([]byte(`{"status":"x"}`), &bad); err == nil {
		t.Fatal("non-numeric status accepted")
	}
	if err := json.Unmarshal([]byte(`[1]`), &bad); err == nil {
		t.Fatal("array accepted")
	}
}

func TestWriteProblemAddsRequestIDAndNoStore(t *testing.T) {
	h := httpx.RequestID(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"x"`)
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusConflict, "busy"))
	}))
	w := serve(h, get("/", "X-Request-ID", "abc-123"))
	m := problemOf(t, w, http.StatusConflict)
	if m["request_id"] != "abc-123" || m["detail"] != "busy" {
		t.Fatalf("members = %v", m)
	}
	if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("ETag") != "" {
		t.Fatalf("headers = %v", w.Header())
	}
	// HEAD gets no body.
	w = serve(h, req(http.MethodHead, "/", ""))
	if w.Code != http.StatusConflict || w.Body.Len() != 0 {
		t.Fatalf("HEAD: %d %q", w.Code, w.Body)
	}
}

func TestWriteProblemUnencodableExtension(t *testing.T) {
	w := httptest.NewRecorder()
	httpx.WriteProblem(w, get("/"), &httpx.Problem{Status: 400, Extensions: map[string]any{"f": func() {}}})
	problemOf(t, w, 500)
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		err    error
		status int
		detail string
	}{
		{httpx.NewProblem(418, "teapot"), 418, "teapot"},
		{fmt.Errorf("wrapped: %w", httpx.NewProblem(409, "dup")), 409, "dup"},
		{&http.MaxBytesError{Limit: 10}, 413, "request body larger than 10 bytes"},
		{httpx.ErrInvalidETag, 400, httpx.ErrInvalidETag.Error()},
		{httpx.ErrNotAcceptable, 406, httpx.ErrNotAcceptable.Error()},
		{errors.New("secret database password"), 500, ""},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		httpx.Error(w, get("/"), c.err)
		m := problemOf(t, w, c.status)
		d, _ := m["detail"].(string)
		if d != c.detail {
			t.Errorf("%v: detail %q, want %q", c.err, d, c.detail)
		}
		if strings.Contains(w.Body.String(), "secret") {
			t.Errorf("internal error leaked: %s", w.Body)
		}
	}
}

// leakyStatusErr is a handler's own error type that knows its status but
// whose message carries internals (SQL, host names).
type leakyStatusErr struct{}

func (leakyStatusErr) Error() string {
	return "SELECT * FROM users WHERE id=$1 on db-primary.internal:5432"
}
func (leakyStatusErr) HTTPStatus() int { return http.StatusNotFound }

// TestProblemDetailOnlyClientSafe is the regression test for issue 10 item
// 5: a 4xx problem's detail carries only messages marked client-safe, never
// the wrapped chain around them.
func TestProblemDetailOnlyClientSafe(t *testing.T) {
	cases := []struct {
		err    error
		status int
		detail string
	}{
		// A package sentinel wrapped with internals: only its own message.
		{fmt.Errorf("query users on db-primary.internal:5432 (SELECT 1): %w", httpx.ErrInvalidETag), 400, httpx.ErrInvalidETag.Error()},
		// A status error nobody marked client-safe: status kept, no detail.
		{leakyStatusErr{}, 404, ""},
		{fmt.Errorf("lookup: %w", leakyStatusErr{}), 404, ""},
		// Explicitly client-safe messages, wrapped with internals.
		{fmt.Errorf("pg db-primary.internal: %w", httpx.ClientError(404, "user not found")), 404, "user not found"},
		{fmt.Errorf("SELECT 1: %w", httpx.ClientError(409, "order already paid")), 409, "order already paid"},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		httpx.Error(w, get("/"), c.err)
		m := problemOf(t, w, c.status)
		d, _ := m["detail"].(string)
		if d != c.detail {
			t.Errorf("%v: detail %q, want %q", c.err, d, c.detail)
		}
		if body := w.Body.String(); strings.Contains(body, "internal") || strings.Contains(body, "SELECT") {
			t.Errorf("internals leaked: %s", body)
		}
	}
	// Sentinels keep working with errors.Is after a package parse error.
	if _, err := httpx.ParseETag(`"a" junk`); !errors.Is(err, httpx.ErrInvalidETag) {
		t.Fatalf("errors.Is lost: %v", err)
	}
	// A ClientError with a 5xx status still hides its message.
	w := httptest.NewRecorder()
	httpx.Error(w, get("/"), httpx.ClientError(503, "db-primary.internal down"))
	if m := problemOf(t, w, 503); m["detail"] != nil {
		t.Fatalf("5xx detail %v", m["detail"])
	}
}
