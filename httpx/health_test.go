package httpx_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/httpx"
)

// TestReadyzPublicSummaryAndCached (issue 10 item 4): by default /readyz
// tells anyone only whether the service is ready, never a check's error
// text (hosts, users, addresses), and repeated or concurrent hits do not
// run the checks again within the cache interval.
func TestReadyzPublicSummaryAndCached(t *testing.T) {
	h := httpx.NewHealth(nil)
	var runs atomic.Int64
	gate := make(chan struct{})
	h.AddCheck("db", func(ctx context.Context) error {
		runs.Add(1)
		<-gate
		return errors.New(`dial tcp 10.20.30.40:5432: password authentication failed for user "billing_admin"`)
	})
	mux := http.NewServeMux()
	h.Register(mux)
	var wg sync.WaitGroup
	bodies := make([]string, 20)
	codes := make([]int, 20)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := serve(mux, get("/readyz"))
			bodies[i], codes[i] = w.Body.String(), w.Code
		}()
	}
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond) // poll: the first hit has started the check
	}
	close(gate)
	wg.Wait()
	for range 5 {
		w := serve(mux, get("/readyz"))
		bodies = append(bodies, w.Body.String())
		codes = append(codes, w.Code)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the check ran %d times for %d hits, want 1 (cached, coalesced)", n, len(bodies))
	}
	for i, b := range bodies {
		if codes[i] != http.StatusServiceUnavailable {
			t.Fatalf("hit %d: %d", i, codes[i])
		}
		if strings.Contains(b, "10.20.30.40") || strings.Contains(b, "billing_admin") || strings.Contains(b, "db") {
			t.Fatalf("hit %d leaks check details: %s", i, b)
		}
		var rep httpx.Report
		if err := json.Unmarshal([]byte(b), &rep); err != nil || rep.Status != "fail" {
			t.Fatalf("hit %d: %s", i, b)
		}
	}
}

// TestReadyzDetailsOptionAndExpiry: details are shown only when the Details
// option allows it for the request, and cached results expire after
// CacheTTL; draining is seen at once.
func TestReadyzDetailsOptionAndExpiry(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	h := httpx.NewHealth(&httpx.HealthOptions{Clock: clk, CacheTTL: time.Second,
		Details: func(r *http.Request) bool { return r.Header.Get("X-Internal") == "1" }})
	var runs atomic.Int64
	up := atomic.Bool{}
	h.AddCheck("db", func(context.Context) error {
		runs.Add(1)
		if up.Load() {
			return nil
		}
		return errors.New("connection refused")
	})
	mux := http.NewServeMux()
	h.Register(mux)
	w := serve(mux, get("/readyz", "X-Internal", "1"))
	var rep httpx.Report
	_ = json.Unmarshal(w.Body.Bytes(), &rep)
	if w.Code != 503 || rep.Checks["db"].Error != "connection refused" {
		t.Fatalf("details: %d %s", w.Code, w.Body)
	}
	if w := serve(mux, get("/readyz")); strings.Contains(w.Body.String(), "refused") {
		t.Fatalf("details without permission: %s", w.Body)
	}
	up.Store(true)
	if w := serve(mux, get("/readyz")); w.Code != 503 || runs.Load() != 1 {
		t.Fatalf("within CacheTTL: %d, %d runs", w.Code, runs.Load())
	}
	clk.Advance(time.Second)
	if w := serve(mux, get("/readyz")); w.Code != 200 || runs.Load() != 2 {
		t.Fatalf("after CacheTTL: %d, %d runs", w.Code, runs.Load())
	}
	h.SetDraining(true)
	if w := serve(mux, get("/readyz")); w.Code != 503 || !strings.Contains(w.Body.String(), "draining") {
		t.Fatalf("draining: %d %s", w.Code, w.Body)
	}
}
