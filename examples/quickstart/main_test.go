package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/idgen"
)

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	svc, err := newService(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, wantStatus int, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d %s, want %d", url, res.StatusCode, body, wantStatus)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
	}
}

func TestIDAndDecodeRoundTrip(t *testing.T) {
	srv := newTestServer(t)
	before := time.Now().Add(-time.Millisecond)
	var one idJSON
	get(t, srv.URL+"/id", http.StatusOK, &one)
	id, err := strconv.ParseInt(one.ID, 10, 64)
	if err != nil || id <= 0 {
		t.Fatalf("id %q: %v", one.ID, err)
	}
	if one.Base62 != idgen.EncodeBase62(uint64(id)) || one.Base32 != idgen.EncodeBase32(uint64(id)) {
		t.Fatalf("encodings of %d: %+v", id, one)
	}
	for _, ref := range []string{one.ID, one.Base62, one.Base32 + "?format=base32", one.ID + "?format=decimal", one.Base62 + "?format=base62"} {
		var d decodedJSON
		get(t, srv.URL+"/decode/"+ref, http.StatusOK, &d)
		if d.ID != one.ID {
			t.Fatalf("decode %s: id %s, want %s", ref, d.ID, one.ID)
		}
		if d.Time.Before(before.Truncate(time.Millisecond)) || d.Time.After(time.Now()) {
			t.Fatalf("decode %s: time %v not around now", ref, d.Time)
		}
	}
}

func TestBatchIsUniqueAndIncreasing(t *testing.T) {
	srv := newTestServer(t)
	var ids []idJSON
	get(t, srv.URL+"/id?n=1000", http.StatusOK, &ids)
	if len(ids) != 1000 {
		t.Fatalf("got %d ids", len(ids))
	}
	var last int64
	for _, x := range ids {
		id, _ := strconv.ParseInt(x.ID, 10, 64)
		if id <= last {
			t.Fatalf("id %d after %d", id, last)
		}
		last = id
	}
}

func TestTicketsAreDense(t *testing.T) {
	srv := newTestServer(t)
	var a, b idJSON
	get(t, srv.URL+"/ticket", http.StatusOK, &a)
	get(t, srv.URL+"/ticket", http.StatusOK, &b)
	x, _ := strconv.ParseInt(a.ID, 10, 64)
	y, _ := strconv.ParseInt(b.ID, 10, 64)
	if y != x+1 {
		t.Fatalf("tickets %d then %d, want consecutive", x, y)
	}
}

func TestBadInput(t *testing.T) {
	srv := newTestServer(t)
	for _, path := range []string{
		"/id?n=0", "/id?n=1001", "/id?n=abc", "/id?n=-1",
		"/decode/!!!", "/decode/abc?format=hex", "/decode/99999999999999999999",
		"/decode/LLLLLLLLLLLLLL", "/decode/ILOU?format=base32",
	} {
		var e map[string]string
		get(t, srv.URL+path, http.StatusBadRequest, &e)
		if e["error"] == "" {
			t.Fatalf("%s: no error message", path)
		}
	}
}

func TestRunShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	url := "http://" + ln.Addr().String()
	var one idJSON
	get(t, url+"/id", http.StatusOK, &one)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}
