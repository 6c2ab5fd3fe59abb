package httpx_test

import (
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/scalekit-go/scalekit/httpx"
)

func TestNegotiateEncoding(t *testing.T) {
	cases := map[string]string{
		"":                           "",
		"gzip":                       "gzip",
		"GZIP":                       "gzip",
		"x-gzip":                     "gzip",
		"deflate":                    "deflate",
		"gzip, deflate, br":          "gzip",
		"deflate;q=1, gzip;q=0.5":    "deflate",
		"gzip;q=0, deflate;q=0.1":    "deflate",
		"gzip;q=0":                   "",
		"*":                          "gzip",
		"*;q=0.5, gzip;q=0":          "deflate",
		"br, identity":               "",
		"identity;q=0, gzip ; q=0.8": "gzip",
		" , gzip , ":                 "gzip",
	}
	for in, want := range cases {
		got, err := httpx.NegotiateEncoding(in)
		if err != nil || got != want {
			t.Errorf("NegotiateEncoding(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"gzip;q=2", "gzip;q=abc", "gzip;level=1", "gz ip", "gzip;q=0.1234", "\"gzip\"", "gzip;q=-1", strings.Repeat("a,", 65)} {
		if _, err := httpx.NegotiateEncoding(in); !errors.Is(err, httpx.ErrInvalidAcceptEncoding) {
			t.Errorf("NegotiateEncoding(%q) err = %v", in, err)
		}
	}
}

func textHandler(ct string, size int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("ETag", `"abc"`)
		body := strings.Repeat("hello compressible world ", size/25+1)[:size]
		_, _ = io.WriteString(w, body[:size/2])
		_, _ = io.WriteString(w, body[size/2:])
	})
}

func decode(t *testing.T, enc string, b []byte) string {
	t.Helper()
	var r io.Reader
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "deflate":
		r = flate.NewReader(strings.NewReader(string(b)))
	default:
		return string(b)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestCompress(t *testing.T) {
	mw := httpx.Compress(nil)
	want := strings.Repeat("hello compressible world ", 5000/25+1)[:5000]
	for _, enc := range []string{"gzip", "deflate"} {
		w := serve(mw(textHandler("application/json", 5000)), get("/", "Accept-Encoding", enc))
		if w.Header().Get("Content-Encoding") != enc || w.Header().Get("Vary") != "Accept-Encoding" || w.Header().Get("ETag") != `W/"abc"` {
			t.Fatalf("%s headers %v", enc, w.Header())
		}
		if w.Body.Len() >= 5000 {
			t.Fatalf("%s not smaller: %d", enc, w.Body.Len())
		}
		if got := decode(t, enc, w.Body.Bytes()); got != want {
			t.Fatalf("%s round trip: %d bytes", enc, len(got))
		}
	}
	// Sniffed type (no Content-Type) is compressed when text.
	w := serve(httpx.Compress(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, want)
	})), get("/", "Accept-Encoding", "gzip"))
	if w.Header().Get("Content-Encoding") != "gzip" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("sniffed: %v", w.Header())
	}
}

func TestCompressSkips(t *testing.T) {
	mw := httpx.Compress(&httpx.CompressOptions{MinSize: 100})
	cases := []struct {
		name string
		h    http.Handler
		r    *http.Request
	}{
		{"small", textHandler("text/plain", 99), get("/", "Accept-Encoding", "gzip")},
		{"image", textHandler("image/png", 5000), get("/", "Accept-Encoding", "gzip")},
		{"bad content type", textHandler("text/plain; charset=\"", 5000), get("/", "Accept-Encoding", "gzip")},
		{"not accepted", textHandler("text/plain", 5000), get("/", "Accept-Encoding", "br")},
		{"malformed accept-encoding", textHandler("text/plain", 5000), get("/", "Accept-Encoding", "gzip;q=x")},
		{"head", textHandler("text/plain", 5000), req("HEAD", "/", "", "Accept-Encoding", "gzip")},
		{"already encoded", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "br")
			_, _ = w.Write(make([]byte, 500))
		}), get("/", "Accept-Encoding", "gzip")},
		{"204", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }), get("/", "Accept-Encoding", "gzip")},
	}
	for _, c := range cases {
		w := serve(mw(c.h), c.r)
		if ce := w.Header().Get("Content-Encoding"); ce == "gzip" {
			t.Errorf("%s: compressed", c.name)
		}
		if w.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("%s: Vary %q", c.name, w.Header().Get("Vary"))
		}
	}
	// A small body keeps its status.
	w := serve(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		_, _ = w.Write([]byte("tiny"))
	})), get("/", "Accept-Encoding", "gzip"))
	if w.Code != 201 || w.Body.String() != "tiny" {
		t.Fatalf("small: %d %q", w.Code, w.Body)
	}
	// Nothing written at all: default 200, empty.
	w = serve(mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})), get("/", "Accept-Encoding", "gzip"))
	if w.Code != 200 || w.Body.Len() != 0 {
		t.Fatalf("empty: %d", w.Code)
	}
}

func TestCompressFlushStreams(t *testing.T) {
	h := httpx.Compress(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "data: 2\n\n")
	}))
	w := serve(h, get("/", "Accept-Encoding", "gzip"))
	if w.Header().Get("Content-Encoding") != "gzip" || !w.Flushed {
		t.Fatalf("headers %v flushed %v", w.Header(), w.Flushed)
	}
	if got := decode(t, "gzip", w.Body.Bytes()); got != "data: 1\n\ndata: 2\n\n" {
		t.Fatalf("%q", got)
	}
}

func TestCompressRealServer(t *testing.T) {
	url := newLoopback(t, httpx.Compress(nil)(textHandler("text/html", 20000)))
	// The default transport asks for gzip and decompresses transparently.
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !resp.Uncompressed || len(readAll(t, resp.Body)) != 20000 {
		t.Fatalf("uncompressed %v", resp.Uncompressed)
	}
}

func TestIsCompressible(t *testing.T) {
	for mt, want := range map[string]bool{"text/html": true, "application/json": true, "application/problem+json": true,
		"application/atom+xml": true, "image/svg+xml": true, "image/png": false, "application/octet-stream": false, "video/mp4": false} {
		if httpx.IsCompressible(mt) != want {
			t.Errorf("%s", mt)
		}
	}
}

func TestCompressPanicLeavesRecoverToAnswer(t *testing.T) {
	h := httpx.Recover(&httpx.RecoverOptions{Logger: slog.New(slog.DiscardHandler)})(httpx.Compress(nil)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("partial"))
			panic("boom")
		})))
	w := serve(h, get("/", "Accept-Encoding", "gzip"))
	problemOf(t, w, 500)
}
