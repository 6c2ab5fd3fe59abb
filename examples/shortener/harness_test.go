package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const testKey = "test-key"

// mode is one way of running the service in tests.
type mode struct {
	name  string
	nodes int
	real  bool // Redis + PostgreSQL
}

var modes = []mode{{"memory", 1, false}, {"memory-3-nodes", 3, false}, {"redis-postgres-3-nodes", 3, true}}

// start runs a cluster on a loopback port and stops it with the test.
func start(t testing.TB, m mode, edit func(*config)) *cluster {
	t.Helper()
	cfg := config{Nodes: m.nodes, Anonymous: true, APIKeys: []string{testKey}, KeyRate: 10_000, ClientRate: 10_000,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Visibility: 300 * time.Millisecond}
	if m.real {
		cfg.RedisURL = testenv.RedisURL(t)
		cfg.PostgresDSN = testenv.PostgresURL(t)
		cfg.Prefix = "t" + strings.ToLower(strings.NewReplacer("-", "", ":", "", "/", "").Replace(testenv.Prefix(t)))
	}
	if edit != nil {
		edit(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := startCluster(context.Background(), cfg, ln)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// client does not follow redirects.
var client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

type resp struct {
	*http.Response
	body []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func do(t testing.TB, method, url string, body any, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "text/csv"
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res, b}
}

func wantStatus(t testing.TB, r resp, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", r.Request.Method, r.Request.URL, r.StatusCode, want, r.body)
	}
}

// createLink posts body and returns the created view.
func createLink(t testing.TB, base string, body map[string]any, hdr ...string) linkView {
	t.Helper()
	r := do(t, "POST", base+"/api/v1/links", body, hdr...)
	wantStatus(t, r, http.StatusCreated)
	var v linkView
	r.json(t, &v)
	return v
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nodeURL is the direct address of node i (bypassing the proxy).
func nodeURL(c *cluster, i int) string {
	if len(c.lns) == 1 && c.front == nil {
		return c.URL()
	}
	return "http://" + c.lns[i].Addr().String()
}

func statsOf(t testing.TB, base, code string) Stats {
	t.Helper()
	r := do(t, "GET", base+"/api/v1/links/"+code+"/stats", nil)
	wantStatus(t, r, http.StatusOK)
	var s Stats
	r.json(t, &s)
	return s
}
