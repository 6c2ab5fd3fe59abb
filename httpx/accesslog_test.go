package httpx_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/httpx"
)

func jsonLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func logRecords(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestAccessLogRecord(t *testing.T) {
	var buf bytes.Buffer
	clk := clock.NewFake(time.Unix(1000, 0))
	h := httpx.Chain(httpx.RequestID(nil), httpx.AccessLog(jsonLogger(&buf), &httpx.AccessLogOptions{Clock: clk}))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			clk.Advance(25 * time.Millisecond)
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte("hello"))
		}))
	r := req(http.MethodPost, "/things?x=1", "", "X-Request-ID", "rid-1", "User-Agent", "ua/1")
	serve(h, r)
	recs := logRecords(t, &buf)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	m := recs[0]
	want := map[string]any{"level": "INFO", "method": "POST", "path": "/things", "status": 201.0, "bytes": 5.0,
		"duration": float64(25 * time.Millisecond), "user_agent": "ua/1", "request_id": "rid-1"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func TestAccessLogImplicitStatusAndSkip(t *testing.T) {
	var buf bytes.Buffer
	h := httpx.AccessLog(jsonLogger(&buf), &httpx.AccessLogOptions{Skip: func(r *http.Request) bool { return r.URL.Path == "/healthz" }})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve(h, get("/healthz"))
	serve(h, get("/x"))
	recs := logRecords(t, &buf)
	if len(recs) != 1 || recs[0]["status"] != 200.0 || recs[0]["path"] != "/x" {
		t.Fatalf("records %v", recs)
	}
}

func TestRecoverAnswersProblemWithoutStack(t *testing.T) {
	var buf bytes.Buffer
	h := httpx.Chain(
		httpx.AccessLog(jsonLogger(&buf), nil),
		httpx.Recover(&httpx.RecoverOptions{Logger: jsonLogger(&buf)}),
	)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("db password hunter2") }))
	w := serve(h, get("/boom"))
	problemOf(t, w, http.StatusInternalServerError)
	if strings.Contains(w.Body.String(), "hunter2") || strings.Contains(w.Body.String(), "goroutine") {
		t.Fatalf("panic leaked: %s", w.Body)
	}
	recs := logRecords(t, &buf)
	if len(recs) != 2 {
		t.Fatalf("records %v", recs)
	}
	if recs[0]["panic"] != "db password hunter2" || !strings.Contains(recs[0]["stack"].(string), "goroutine") {
		t.Fatalf("panic record %v", recs[0])
	}
	if recs[1]["status"] != 500.0 || recs[1]["level"] != "ERROR" {
		t.Fatalf("access record %v", recs[1])
	}
}

func TestRecoverAfterHeadersAborts(t *testing.T) {
	h := httpx.Recover(&httpx.RecoverOptions{Logger: slog.New(slog.DiscardHandler)})(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(200)
			panic("late")
		}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	serve(h, get("/"))
	t.Fatal("no panic")
}

func TestRecoverRepanicsAbortHandler(t *testing.T) {
	h := httpx.Recover(nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v", v)
		}
	}()
	serve(h, get("/"))
}

func TestAccessLogLogsPanicThrough(t *testing.T) {
	var buf bytes.Buffer
	h := httpx.AccessLog(jsonLogger(&buf), nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("x") }))
	func() {
		defer func() { _ = recover() }()
		serve(h, get("/"))
	}()
	recs := logRecords(t, &buf)
	if len(recs) != 1 || recs[0]["status"] != 500.0 {
		t.Fatalf("records %v", recs)
	}
}
