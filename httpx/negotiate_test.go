package httpx_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/scalekit-go/scalekit/httpx"
)

func TestNegotiate(t *testing.T) {
	offers := []string{"application/json", "text/html", "application/xml"}
	cases := map[string]string{
		"":                                       "application/json",
		"*/*":                                    "application/json",
		"text/html":                              "text/html",
		"text/*":                                 "text/html",
		"application/xml;q=0.9, text/html;q=0.8": "application/xml",
		"application/*;q=0.5, text/html":         "text/html",
		"*/*;q=0.1, application/json;q=0":        "text/html",
		"Application/JSON":                       "application/json",
		"application/json; charset=utf-8":        "application/json",
		"text/html;level=1;q=0.7, */*;q=0.8":     "application/json",
	}
	for accept, want := range cases {
		got, err := httpx.Negotiate(get("/", "Accept", accept), offers...)
		if err != nil || got != want {
			t.Errorf("Accept %q: %q, %v; want %q", accept, got, err, want)
		}
	}
	for _, accept := range []string{"image/png", "application/json;q=0", "text/plain, image/*"} {
		if _, err := httpx.Negotiate(get("/", "Accept", accept), offers...); !errors.Is(err, httpx.ErrNotAcceptable) {
			t.Errorf("Accept %q: err %v", accept, err)
		}
	}
	for _, accept := range []string{"text", "*/html", "text/html;q=2", "text/html;q=x", "a/b;=c", strings.Repeat("a/b,", 65), "/"} {
		if _, err := httpx.Negotiate(get("/", "Accept", accept), offers...); !errors.Is(err, httpx.ErrInvalidAccept) {
			t.Errorf("Accept %q: err %v", accept, err)
		}
	}
	if _, err := httpx.Negotiate(get("/")); !errors.Is(err, httpx.ErrNotAcceptable) {
		t.Fatal("no offers")
	}
}

func TestNegotiationMiddleware(t *testing.T) {
	h := httpx.Negotiation()(okHandler)
	if w := serve(h, get("/", "Accept", "application/*")); w.Code != 200 {
		t.Fatalf("%d", w.Code)
	}
	problemOf(t, serve(h, get("/", "Accept", "text/html")), 406)
	problemOf(t, serve(h, get("/", "Accept", "text/html;q=nope")), 400)
}
