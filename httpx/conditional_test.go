package httpx_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/httpx"
)

func TestParseETag(t *testing.T) {
	good := map[string]httpx.ETag{
		`"abc"`:    {Value: "abc"},
		`W/"v1"`:   {Value: "v1", Weak: true},
		`""`:       {},
		` "x!#" `:  {Value: "x!#"},
		"\"\x80\"": {Value: "\x80"},
	}
	for in, want := range good {
		got, err := httpx.ParseETag(in)
		if err != nil || got != want {
			t.Errorf("ParseETag(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if err == nil {
			if back, _ := httpx.ParseETag(got.String()); back != got {
				t.Errorf("String round trip of %q", in)
			}
		}
	}
	for _, in := range []string{``, `abc`, `"abc`, `w/"abc"`, `W/abc`, `"a"b`, `"a b"`, "\"a\x00\"", `"a"  "b"`, `W/`} {
		if _, err := httpx.ParseETag(in); !errors.Is(err, httpx.ErrInvalidETag) {
			t.Errorf("ParseETag(%q) err = %v", in, err)
		}
	}
}

func TestParseETagList(t *testing.T) {
	l, err := httpx.ParseETagList(` "a", W/"b" ,,"c"`)
	if err != nil || len(l.Tags) != 3 || l.Any || !l.Tags[1].Weak {
		t.Fatalf("%+v %v", l, err)
	}
	if l, err := httpx.ParseETagList(" * "); err != nil || !l.Any {
		t.Fatalf("* -> %+v %v", l, err)
	}
	huge := strings.TrimSuffix(strings.Repeat(`"x",`, 129), ",")
	for _, in := range []string{"", ",", `"a" "b"`, `"a";"b"`, `*, "a"`, `"a`, huge} {
		if _, err := httpx.ParseETagList(in); !errors.Is(err, httpx.ErrInvalidETag) {
			t.Errorf("ParseETagList(%q) err = %v", in, err)
		}
	}
	cur := httpx.ETag{Value: "b"}
	if !l.MatchWeak(cur, true) || l.MatchStrong(cur, true) || l.MatchWeak(cur, false) {
		t.Fatal("match semantics: W/\"b\" matches weakly only")
	}
	if !l.MatchStrong(httpx.ETag{Value: "a"}, true) {
		t.Fatal("strong match")
	}
	if httpx.StrongETag([]byte("x")) == httpx.StrongETag([]byte("y")) || httpx.StrongETag([]byte("x")).Weak {
		t.Fatal("StrongETag")
	}
	if httpx.WeakETag("7").String() != `W/"7"` {
		t.Fatal("WeakETag")
	}
}

// resource is a handler over one versioned resource that uses
// CheckPreconditions for reads and writes.
func resource(v *httpx.Validators, writes *int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if httpx.CheckPreconditions(w, r, *v) {
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			*writes++
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("ETag", v.ETag.String())
		_, _ = w.Write([]byte("body"))
	})
}

func TestCheckPreconditions(t *testing.T) {
	lm := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	v := &httpx.Validators{ETag: httpx.ETag{Value: "v2"}, HasETag: true, LastModified: lm, Exists: true}
	var writes int
	h := resource(v, &writes)
	before, after := lm.Add(-time.Hour).Format(http.TimeFormat), lm.Add(time.Hour).Format(http.TimeFormat)
	cases := []struct {
		method string
		hdr    []string
		status int
	}{
		{"GET", nil, 200},
		{"GET", []string{"If-None-Match", `"v2"`}, 304},
		{"GET", []string{"If-None-Match", `W/"v2"`}, 304},
		{"HEAD", []string{"If-None-Match", `"v1", "v2"`}, 304},
		{"GET", []string{"If-None-Match", `"v1"`}, 200},
		{"GET", []string{"If-None-Match", `*`}, 304},
		{"GET", []string{"If-Modified-Since", lm.Format(http.TimeFormat)}, 304},
		{"GET", []string{"If-Modified-Since", before}, 200},
		{"GET", []string{"If-Modified-Since", "not a date"}, 200},
		// If-None-Match takes precedence over If-Modified-Since.
		{"GET", []string{"If-None-Match", `"v1"`, "If-Modified-Since", after}, 200},
		{"PUT", []string{"If-Match", `"v2"`}, 204},
		{"PUT", []string{"If-Match", `"v1"`}, 412},
		{"PUT", []string{"If-Match", `W/"v2"`}, 412}, // If-Match compares strongly
		{"PUT", []string{"If-Match", `*`}, 204},
		{"PUT", []string{"If-Unmodified-Since", before}, 412},
		{"PUT", []string{"If-Unmodified-Since", after}, 204},
		{"PUT", []string{"If-Unmodified-Since", "garbage"}, 204},
		{"PUT", []string{"If-None-Match", `*`}, 412},                                 // create-only on an existing resource
		{"DELETE", []string{"If-Match", `"v2"`, "If-Unmodified-Since", before}, 204}, // If-Match wins
		{"GET", []string{"If-None-Match", `v2`}, 400},
		{"PUT", []string{"If-Match", `"v2`}, 400},
		{"GET", []string{"If-None-Match", strings.Repeat(`"x",`, 200)}, 400},
	}
	for _, c := range cases {
		w := serve(h, req(c.method, "/r", "", c.hdr...))
		if w.Code != c.status {
			t.Errorf("%s %v: %d, want %d", c.method, c.hdr, w.Code, c.status)
			continue
		}
		switch c.status {
		case 304:
			if w.Header().Get("ETag") != `"v2"` || w.Header().Get("Last-Modified") != lm.Format(http.TimeFormat) || w.Body.Len() != 0 {
				t.Errorf("304 headers %v body %q", w.Header(), w.Body)
			}
		case 400, 412:
			problemOf(t, w, c.status)
		}
	}
	// A missing resource: If-Match fails, If-None-Match: * passes (create).
	missing := &httpx.Validators{}
	h = resource(missing, &writes)
	problemOf(t, serve(h, req("PUT", "/r", "", "If-Match", "*")), 412)
	if w := serve(h, req("PUT", "/r", "", "If-None-Match", "*")); w.Code != 204 {
		t.Fatalf("create-only on missing: %d", w.Code)
	}
}

func TestETagsMiddleware(t *testing.T) {
	body := "hello world"
	h := httpx.ETags(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(body[:5]))
		_, _ = w.Write([]byte(body[5:]))
	}))
	w := serve(h, get("/"))
	etag := w.Header().Get("ETag")
	if w.Code != 200 || w.Body.String() != body || etag != httpx.StrongETag([]byte(body)).String() || w.Header().Get("Content-Length") != "11" {
		t.Fatalf("first: %d %q %v", w.Code, w.Body, w.Header())
	}
	w = serve(h, get("/", "If-None-Match", etag))
	if w.Code != 304 || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
		t.Fatalf("revalidation: %d %q %v", w.Code, w.Body, w.Header())
	}
	problemOf(t, serve(h, get("/", "If-None-Match", "garbage")), 400)
	// Writes pass through untouched.
	if w := serve(h, req("POST", "/", "x", "If-None-Match", "garbage")); w.Code != 200 || w.Header().Get("ETag") != "" {
		t.Fatalf("POST: %d %v", w.Code, w.Header())
	}
}

func TestETagsHandlerValidatorsAndErrors(t *testing.T) {
	lm := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	h := httpx.ETags(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/own":
			w.Header().Set("ETag", `W/"42"`)
			w.Header().Set("Last-Modified", lm.Format(http.TimeFormat))
		case "/missing":
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("x"))
	}))
	if w := serve(h, get("/own", "If-None-Match", `"42"`)); w.Code != 304 || w.Header().Get("ETag") != `W/"42"` {
		t.Fatalf("own weak tag: %d %v", w.Code, w.Header())
	}
	if w := serve(h, get("/own", "If-Modified-Since", lm.Format(http.TimeFormat))); w.Code != 304 {
		t.Fatalf("own Last-Modified: %d", w.Code)
	}
	if w := serve(h, get("/missing", "If-None-Match", "*")); w.Code != 404 || w.Header().Get("ETag") != "" {
		t.Fatalf("404: %d %v", w.Code, w.Header())
	}
}

func TestETagsLargeBodyStreams(t *testing.T) {
	h := httpx.ETags(&httpx.ETagsOptions{MaxBody: 8})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 4; i++ {
			_, _ = w.Write([]byte("12345"))
		}
	}))
	w := serve(h, get("/"))
	if w.Code != 200 || w.Body.String() != strings.Repeat("12345", 4) || w.Header().Get("ETag") != "" || w.Header().Get("Content-Length") != "" {
		t.Fatalf("%d %q %v", w.Code, w.Body, w.Header())
	}
	// A flushing handler streams too.
	h = httpx.ETags(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		_, _ = w.Write([]byte("b"))
	}))
	w = serve(h, get("/"))
	if w.Body.String() != "ab" || w.Header().Get("ETag") != "" || !w.Flushed {
		t.Fatalf("flush: %q %v", w.Body, w.Header())
	}
}

func TestETagsLargeBodyRealServer(t *testing.T) {
	// Through net/http, a wrong Content-Length would truncate or fail.
	big := strings.Repeat("z", 5000)
	h := httpx.ETags(&httpx.ETagsOptions{MaxBody: 1000})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 5; i++ {
			_, _ = w.Write([]byte(big[:1000]))
		}
	}))
	srv := newLoopback(t, h)
	resp, err := http.Get(srv + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := readAll(t, resp.Body)
	if got != big {
		t.Fatalf("got %d bytes", len(got))
	}
}

func TestCacheControl(t *testing.T) {
	cc := httpx.CacheControl{Public: true, MaxAge: 90 * time.Second, SMaxAge: time.Hour, StaleWhileRevalidate: 30 * time.Second,
		StaleIfError: time.Minute, MustRevalidate: true, Immutable: true, NoTransform: true}
	want := "public, no-transform, max-age=90, s-maxage=3600, stale-while-revalidate=30, stale-if-error=60, must-revalidate, immutable"
	if cc.String() != want {
		t.Fatalf("%q", cc.String())
	}
	if s := (httpx.CacheControl{Private: true, NoCache: true, MaxAgeZero: true}).String(); s != "private, no-cache, max-age=0" {
		t.Fatalf("%q", s)
	}
	h := http.Header{}
	httpx.CacheControl{NoStore: true}.Apply(h)
	if h.Get("Cache-Control") != "no-store" {
		t.Fatal(h)
	}
	httpx.CacheControl{}.Apply(h)
	if _, ok := h["Cache-Control"]; ok {
		t.Fatal("empty CacheControl left the header")
	}
}

func TestAddVary(t *testing.T) {
	h := http.Header{}
	httpx.AddVary(h, "Accept-Encoding")
	httpx.AddVary(h, "accept-encoding", "Origin", " ", "")
	if h.Get("Vary") != "Accept-Encoding, Origin" || len(h.Values("Vary")) != 1 {
		t.Fatalf("%v", h.Values("Vary"))
	}
	h.Add("Vary", "Cookie")
	httpx.AddVary(h, "Accept")
	if h.Get("Vary") != "Accept-Encoding, Origin, Cookie, Accept" {
		t.Fatalf("%v", h.Values("Vary"))
	}
	httpx.AddVary(h, "*")
	if h.Get("Vary") != "*" {
		t.Fatalf("%v", h.Values("Vary"))
	}
	httpx.AddVary(h, "X")
	if h.Get("Vary") != "*" {
		t.Fatalf("%v", h.Values("Vary"))
	}
}
