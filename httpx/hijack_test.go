package httpx_test

import (
	"bufio"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/httpx"
)

// A WebSocket-style upgrade through the whole stack: every wrapping
// writer must pass Hijack down (as http.Hijacker and through
// http.ResponseController) and write nothing to the connection afterwards.
func TestHijackThroughFullStack(t *testing.T) {
	store, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 100})
	sessions, _ := httpx.NewSessions(store, [][]byte{sessKey1}, &httpx.SessionOptions{Insecure: true})
	logs := &syncBuf{wrote: make(chan struct{}, 16)}
	stack := httpx.DefaultStack(&httpx.StackOptions{Logger: slog.New(slog.NewTextHandler(logs, nil)),
		ETags: &httpx.ETagsOptions{}, Sessions: sessions, Idempotency: store, Timeout: time.Minute})
	for _, viaController := range []bool{false, true} {
		h := stack(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpx.SessionFrom(r.Context()).Set("ws", "1")
			var conn net.Conn
			var brw *bufio.ReadWriter
			var err error
			if viaController {
				conn, brw, err = http.NewResponseController(w).Hijack()
			} else {
				hj, ok := w.(http.Hijacker)
				if !ok {
					t.Error("writer is not an http.Hijacker")
					return
				}
				conn, brw, err = hj.Hijack()
			}
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			defer conn.Close()
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			_ = brw.Flush()
			line, _ := brw.ReadString('\n')
			_, _ = brw.WriteString("echo: " + line)
			_ = brw.Flush()
		}))
		srv := httptest.NewUnstartedServer(h)
		srv.Config.ErrorLog = log.New(logs, "net/http: ", 0) // "...on hijacked connection" would land here
		srv.Start()
		t.Cleanup(srv.Close)
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\nAccept-Encoding: gzip\r\n\r\nhello\n")
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(conn)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\necho: hello\n"
		if string(got) != want {
			t.Fatalf("controller=%v: got %q", viaController, got)
		}
	}
	// One access record per upgrade, written after the handler returns.
	for strings.Count(logs.String(), "status=101") < 2 {
		select {
		case <-logs.wrote:
		case <-time.After(5 * time.Second):
			t.Fatalf("access records missing:\n%s", logs.String())
		}
	}
	if out := logs.String(); strings.Contains(out, "hijacked") || strings.Contains(out, "net/http:") {
		t.Fatalf("logs:\n%s", out)
	}
}

// syncBuf is a log sink safe for the server's goroutines, announcing
// each write.
type syncBuf struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{}
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
