package lb_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/scalekit-go/scalekit/lb"
)

// TestStickyIDIsKeyedPerBalancer (issue 10 item 6): the sticky-cookie ID
// of an endpoint is a MAC under a per-balancer random key, so it reveals
// nothing about the address; with a shared StickyKey, every proxy instance
// agrees on it.
func TestStickyIDIsKeyedPerBalancer(t *testing.T) {
	eps := []lb.Endpoint{{Addr: "10.1.2.3:8080"}}
	ids := map[string]bool{}
	for range 3 {
		b := newBalancer(t, eps, nil)
		ids[b.Backends()[0].ID()] = true
	}
	if len(ids) != 3 {
		t.Fatalf("default IDs are not keyed per balancer: %v", ids)
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	a := newBalancer(t, eps, &lb.Options{StickyKey: key}).Backends()[0].ID()
	b := newBalancer(t, eps, &lb.Options{StickyKey: key}).Backends()[0].ID()
	c := newBalancer(t, eps, &lb.Options{StickyKey: append([]byte("x"), key...)}).Backends()[0].ID()
	if a != b || a == c || len(a) < 22 {
		t.Fatalf("shared key IDs %q %q, other key %q", a, b, c)
	}
	if _, err := lb.New(eps, &lb.Options{StickyKey: []byte("short")}); err == nil {
		t.Fatal("short StickyKey accepted")
	}
}

// TestReverseProxyOverwritesClientIPHeaders (issue 10 item 6): a client
// cannot choose the X-Real-IP or True-Client-IP the upstream sees.
func TestReverseProxyOverwritesClientIPHeaders(t *testing.T) {
	_, eps := servers(t, "web")
	p, err := lb.NewReverseProxy([]lb.Route{{Balancer: newBalancer(t, eps, nil)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	defer front.Close()
	resp, _ := get(t, front.Client(), front.URL+"/", map[string]string{"X-Real-IP": "6.6.6.6", "True-Client-IP": "6.6.6.6"})
	for _, h := range []string{"Echo-X-Real-Ip", "Echo-True-Client-Ip"} {
		if got := resp.Header.Get(h); got == "6.6.6.6" || (got != "" && got != "127.0.0.1") {
			t.Errorf("%s = %q, want the client's real address or nothing", h, got)
		}
	}
}

// TestKeyFromIPRightMostUntrusted (issue 10 item 6): behind trusted
// proxies, the affinity key is the right-most X-Forwarded-For entry not in
// the trusted list, never the client-controlled left-most one.
func TestKeyFromIPRightMostUntrusted(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.2:5555" // our own load balancer
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.0.0.7")
	if got := lb.KeyFromIP(true)(r); got != "203.0.113.9" {
		t.Errorf("KeyFromIP(true) = %q, want 203.0.113.9", got)
	}
	k, err := lb.KeyFromClientIP([]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	r.RemoteAddr = "198.51.100.4:1"
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 10.0.0.7")
	if got := k(r); got != "10.0.0.7" {
		t.Errorf("KeyFromClientIP = %q, want 10.0.0.7", got)
	}
	r.RemoteAddr = "203.0.113.50:1" // not a proxy: its header is the client's own
	if got := k(r); got != "203.0.113.50" {
		t.Errorf("untrusted peer: %q", got)
	}
}

// TestRouteMatchingSegmentsAndHostCase (issue 10 item 6): PathPrefix
// matches whole path segments, and wildcard hosts ignore case like exact
// ones.
func TestRouteMatchingSegmentsAndHostCase(t *testing.T) {
	web := newBalancer(t, []lb.Endpoint{{Addr: "127.0.0.1:1"}}, nil)
	p, err := lb.NewReverseProxy([]lb.Route{
		{Name: "root", PathPrefix: "/", Balancer: web},
		{Name: "api", PathPrefix: "/api", Balancer: web},
		{Name: "static", PathPrefix: "/static/", Balancer: web},
		{Name: "admin", Host: "*.Admin.Example", PathPrefix: "/", Balancer: web},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{
		"http://x/api":             "api",
		"http://x/api/":            "api",
		"http://x/api/v1/users":    "api",
		"http://x/apix":            "root",
		"http://x/api-internal/a":  "root",
		"http://x/static/a.css":    "static",
		"http://x/staticx":         "root",
		"http://eu.ADMIN.example/": "admin",
		"http://EU.admin.EXAMPLE/": "admin",
		"http://admin.example/":    "root",
	} {
		r := p.Match(httptest.NewRequest(http.MethodGet, target, nil))
		if r == nil || r.Name != want {
			t.Errorf("%s: %v, want %s", target, r, want)
		}
	}
}
