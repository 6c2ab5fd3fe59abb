package httpx_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/httpx"
)

func TestCORSSimpleRequests(t *testing.T) {
	h := httpx.CORS(&httpx.CORSOptions{AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"}})(okHandler)
	cases := map[string]bool{
		"https://app.example.com":       true,
		"HTTPS://APP.EXAMPLE.COM":       true,
		"https://a.b.example.org":       true,
		"https://a.example.org:8443":    true,
		"https://example.org":           false,
		"http://a.example.org":          false,
		"https://evil.com":              false,
		"https://app.example.com.evil":  false,
		"https://evil.com/.example.org": false,
		"null":                          false,
		"not an origin":                 false,
		"https://app.example.com/path":  false,
	}
	for origin, ok := range cases {
		w := serve(h, get("/", "Origin", origin))
		if w.Code != 200 {
			t.Fatalf("%s: %d", origin, w.Code)
		}
		got := w.Header().Get("Access-Control-Allow-Origin")
		if ok != (got == origin) || (!ok && got != "") {
			t.Errorf("%s: Allow-Origin %q", origin, got)
		}
		if ok && !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "ETag") {
			t.Errorf("%s: expose %q", origin, w.Header().Get("Access-Control-Expose-Headers"))
		}
		if w.Header().Get("Vary") != "Origin" {
			t.Errorf("%s: Vary %q", origin, w.Header().Get("Vary"))
		}
	}
	// No Origin: untouched but Vary.
	if w := serve(h, get("/")); w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Vary") != "Origin" {
		t.Fatal(w.Header())
	}
}

func TestCORSPreflight(t *testing.T) {
	called := false
	h := httpx.CORS(&httpx.CORSOptions{AllowedOrigins: []string{"https://app.example.com"}, AllowCredentials: true, MaxAge: time.Hour})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	pre := func(hdr ...string) *http.Request {
		return req(http.MethodOptions, "/x", "", append([]string{"Origin", "https://app.example.com"}, hdr...)...)
	}
	w := serve(h, pre("Access-Control-Request-Method", "PATCH", "Access-Control-Request-Headers", "content-type, idempotency-key"))
	hd := w.Header()
	if w.Code != 204 || called || hd.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		hd.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(hd.Get("Access-Control-Allow-Methods"), "PATCH") ||
		!strings.Contains(hd.Get("Access-Control-Allow-Headers"), "Idempotency-Key") || hd.Get("Access-Control-Max-Age") != "3600" ||
		!strings.Contains(hd.Get("Vary"), "Access-Control-Request-Method") {
		t.Fatalf("preflight %d %v", w.Code, hd)
	}
	problemOf(t, serve(h, pre("Access-Control-Request-Method", "TRACE")), 403)
	problemOf(t, serve(h, pre("Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "X-Secret")), 403)
	problemOf(t, serve(h, pre("Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "bad header(")), 400)
	problemOf(t, serve(h, req(http.MethodOptions, "/x", "", "Origin", "https://evil.com", "Access-Control-Request-Method", "GET")), 403)
	// A plain OPTIONS (no request method) reaches the handler.
	serve(h, req(http.MethodOptions, "/x", "", "Origin", "https://app.example.com"))
	if !called {
		t.Fatal("plain OPTIONS not passed through")
	}
}

func TestCORSAnyOriginAndHeaders(t *testing.T) {
	h := httpx.CORS(&httpx.CORSOptions{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"*"}, MaxAge: -1})(okHandler)
	if got := serve(h, get("/", "Origin", "https://x.test")).Header().Get("Access-Control-Allow-Origin"); got != "*" {
		t.Fatalf("any origin: %q", got)
	}
	w := serve(h, req(http.MethodOptions, "/", "", "Origin", "https://x.test", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "X-Anything"))
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Headers") != "X-Anything" || w.Header().Get("Access-Control-Max-Age") != "" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	// AllowOrigin callback.
	h = httpx.CORS(&httpx.CORSOptions{AllowOrigin: func(o string) bool { return strings.HasSuffix(o, ".internal") }})(okHandler)
	if got := serve(h, get("/", "Origin", "http://svc.internal")).Header().Get("Access-Control-Allow-Origin"); got != "http://svc.internal" {
		t.Fatalf("callback: %q", got)
	}
}

// TestCORSWildcardNeverGetsCredentials is the regression test for issue 10
// item 1: "*" with AllowCredentials must not let any website make
// credentialed requests. Origins matched only by "*" get "*" and no
// credentials; explicitly listed ones (exact, subdomain pattern or
// AllowOrigin) still get credentials.
func TestCORSWildcardNeverGetsCredentials(t *testing.T) {
	h := httpx.CORS(&httpx.CORSOptions{
		AllowedOrigins:   []string{"*", "https://app.example.com", "https://*.example.org"},
		AllowOrigin:      func(o string) bool { return o == "https://partner.test" },
		AllowCredentials: true,
	})(okHandler)
	for _, evil := range []string{"https://evil.com", "http://attacker.test:8080"} {
		for name, r := range map[string]*http.Request{
			"simple":    get("/", "Origin", evil),
			"preflight": req(http.MethodOptions, "/", "", "Origin", evil, "Access-Control-Request-Method", "POST"),
		} {
			w := serve(h, r)
			if got := w.Header().Get("Access-Control-Allow-Credentials"); got != "" {
				t.Errorf("%s %s: Allow-Credentials %q", name, evil, got)
			}
			if got := w.Header().Get("Access-Control-Allow-Origin"); got == evil {
				t.Errorf("%s %s: origin reflected with credentials configured", name, evil)
			}
		}
	}
	for _, good := range []string{"https://app.example.com", "https://a.example.org", "https://partner.test"} {
		w := serve(h, req(http.MethodOptions, "/", "", "Origin", good, "Access-Control-Request-Method", "POST"))
		if w.Header().Get("Access-Control-Allow-Origin") != good || w.Header().Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("%s: %d %v", good, w.Code, w.Header())
		}
	}
}
