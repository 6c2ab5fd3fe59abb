package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
)

// queueModes are the click queue backends: memqueue, redisqueue and
// pgqueue (the last two with Redis and PostgreSQL up).
var queueModes = []struct {
	name, queue string
	mode        mode
}{{"memqueue", "memqueue", modes[0]}, {"redisqueue", "redisqueue", modes[2]}, {"pgqueue", "pgqueue", modes[2]}}

// TestClicksExactlyOnceAcrossConsumerCrash publishes clicks, then runs a
// consumer that dies after applying the first half of its batch, a second
// that dies after applying the whole batch but before acking, and a third
// that finishes. Every click is counted exactly once.
func TestClicksExactlyOnceAcrossConsumerCrash(t *testing.T) {
	for _, qm := range queueModes {
		m := qm.mode
		t.Run(qm.name, func(t *testing.T) {
			c := start(t, mode{m.name, 1, m.real}, func(cfg *config) { cfg.NoConsumer, cfg.Queue = true, qm.queue })
			base := c.URL()
			v := createLink(t, base, map[string]any{"url": "https://crash.example/"})
			const clicks = 120
			for i := range clicks {
				wantStatus(t, do(t, "GET", base+"/"+v.Code, nil, "User-Agent", "Mozilla/5.0 Firefox/121.0",
					"X-Forwarded-For", fmt.Sprintf("10.2.0.%d", i%50)), http.StatusFound)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			for _, crashAt := range []int{1, 2} {
				cons := startConsumer(c.be.queue, c.be.stats, log, func(half int) bool { return half == crashAt })
				select {
				case <-cons.Done():
				case <-time.After(10 * time.Second):
					t.Fatalf("consumer did not reach the crash point %d", crashAt)
				}
				if cons.applied.Load() == 0 {
					t.Fatalf("crash %d: nothing applied before the crash", crashAt)
				}
			}
			if s := statsOf(t, base, v.Code); s.Clicks == 0 || s.Clicks > clicks {
				t.Fatalf("after crashes: %d clicks", s.Clicks)
			}
			cons := startConsumer(c.be.queue, c.be.stats, log, nil)
			defer cons.Close()
			eventually(t, 15*time.Second, "backlog drained", func() bool {
				n, err := c.be.queue.Backlog(context.Background())
				return err == nil && n == 0
			})
			s := statsOf(t, base, v.Code)
			if s.Clicks != clicks {
				t.Fatalf("clicks %d, want exactly %d", s.Clicks, clicks)
			}
			if cons.dupes.Load() == 0 {
				t.Fatal("the redelivered batch had no duplicates: the crash test did not test dedup")
			}
			if s.Unique < 48 || s.Unique > 52 {
				t.Fatalf("unique %d, want ~50", s.Unique)
			}
		})
	}
}

// TestStatsApplyIdempotent checks the stores directly: applying a batch
// twice counts it once.
func TestStatsApplyIdempotent(t *testing.T) {
	st := newMemStats()
	now := time.Now()
	batch := []Click{{ID: 1, Code: "a", At: now, UA: "Mozilla/5.0 Chrome/1"}, {ID: 2, Code: "a", At: now, UA: "curl/8"}, {ID: 1, Code: "a", At: now}}
	for range 2 {
		if _, err := st.Apply(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := st.Get(context.Background(), "a")
	if s.Clicks != 1 || s.Bots != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestClassifyUA(t *testing.T) {
	for ua, want := range map[string][3]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36":  {"Chrome", "Windows", ""},
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile Safari/604.1": {"Safari", "iOS", ""},
		"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0":                                       {"Firefox", "Linux", ""},
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)":                                     {"bot", "bot", "bot"},
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0":                                      {"bot", "bot", "bot"},
	} {
		b, o, bot := classifyUA(ua)
		if b != want[0] || o != want[1] || bot != (want[2] == "bot") {
			t.Errorf("%q → %s %s %v, want %v", ua, b, o, bot, want)
		}
	}
}

// FuzzCreateBody: whatever the body, POST /api/v1/links never answers 500
// (nor panics), and a 201 always carries a code that redirects.
func FuzzCreateBody(f *testing.F) {
	for _, s := range []string{`{"url":"https://a.b"}`, `{"url":"https://a.b","alias":"abc"}`, `{"url":"http://x","expires_at":"2999-01-01T00:00:00Z","max_visits":3}`,
		`{"url":"javascript:alert(1)"}`, `{"url":"https://a.b","alias":"../etc"}`, `[]`, `null`, `{"url":1}`, `{"url":"https://a.b","max_visits":1e99}`,
		`{"url":"https://[::1]:80/x"}`, "{\"url\":\"https://a.b/\u0000\"}", `{"url":"https://a.b","expires_at":"tomorrow"}`} {
		f.Add([]byte(s))
	}
	c := start(f, modes[0], nil)
	h := c.nodes[0].hdl
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/api/v1/links", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = fmt.Sprintf("192.0.2.%d:1234", n.Add(1)%250)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusCreated:
			loc := w.Header().Get("Location")
			if loc == "" {
				t.Fatalf("201 without Location for %q", body)
			}
			code := loc[len("http://example.com/"):]
			rw := httptest.NewRecorder()
			h.ServeHTTP(rw, httptest.NewRequest("GET", "/"+code, nil))
			if rw.Code != http.StatusFound {
				t.Fatalf("created %q from %q but redirect answers %d", code, body, rw.Code)
			}
		case http.StatusBadRequest, http.StatusConflict, http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
	})
}

// TestClickDeadLetters publishes an undecodable message and a click whose
// consumers keep dying on it: both end in the subscription's DLQ, the
// good clicks are counted, and /debug/scalekit shows backlog 0 and DLQ 2.
func TestClickDeadLetters(t *testing.T) {
	for _, qm := range queueModes {
		m := qm.mode
		t.Run(qm.name, func(t *testing.T) {
			c := start(t, mode{m.name, 1, m.real}, func(cfg *config) { cfg.NoConsumer, cfg.Queue = true, qm.queue })
			kq, ok := c.be.queue.(*kitQueue)
			if !ok {
				t.Fatalf("click queue is %T, want *kitQueue", c.be.queue)
			}
			ctx := context.Background()
			if _, err := kq.q.Publish(ctx, clickTopic, queue.Message{ID: "poison", Body: []byte("{not json")}); err != nil {
				t.Fatal(err)
			}
			v := createLink(t, c.URL(), map[string]any{"url": "https://dlq.example/"})
			wantStatus(t, do(t, "GET", c.URL()+"/"+v.Code, nil, "User-Agent", "Mozilla/5.0 Firefox/121.0"), http.StatusFound)
			// Consumers that die before acking, clickMaxDeliveries times.
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			for i := range clickMaxDeliveries {
				cons := startConsumer(c.be.queue, c.be.stats, log, func(int) bool { return true })
				select {
				case <-cons.Done():
				case <-time.After(10 * time.Second):
					t.Fatalf("consumer %d did not crash", i)
				}
			}
			// The next delivery is past the limit: dead-lettered, not applied.
			cons := startConsumer(c.be.queue, c.be.stats, log, nil)
			defer cons.Close()
			eventually(t, 15*time.Second, "backlog drained", func() bool {
				n, err := c.be.queue.Backlog(ctx)
				return err == nil && n == 0
			})
			var d debugState
			do(t, "GET", c.URL()+"/debug/scalekit?format=json", nil).json(t, &d)
			if d.Queue["dlq"] != float64(2) || d.Queue["backlog"] != float64(0) {
				t.Fatalf("debug queue %v, want backlog 0, dlq 2", d.Queue)
			}
			dls, err := kq.sub.DeadLetters(ctx, "", 10)
			if err != nil {
				t.Fatal(err)
			}
			reasons := map[string]bool{}
			for _, dl := range dls {
				reasons[dl.Reason] = true
			}
			if !reasons[queue.ReasonRejected] || !reasons[queue.ReasonMaxDeliveries] {
				t.Fatalf("dead letters %+v", dls)
			}
			// The crashed consumers applied the click (dedup kept it once).
			if s := statsOf(t, c.URL(), v.Code); s.Clicks != 1 {
				t.Fatalf("clicks %d, want 1", s.Clicks)
			}
		})
	}
}
