package httpx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/cache/rediscache"
	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

// idemHarness is a handler behind Idempotency that counts runs, can be
// held mid-request, and answers the status named by ?status=.
type idemHarness struct {
	runs    atomic.Int64
	hold    chan struct{}
	entered chan struct{}
	h       http.Handler
}

func newIdemHarness(store driver.Store, opts *httpx.IdempotencyOptions) *idemHarness {
	x := &idemHarness{entered: make(chan struct{}, 16)}
	x.h = httpx.Idempotency(store, opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := x.runs.Add(1)
		x.entered <- struct{}{}
		if x.hold != nil {
			<-x.hold
		}
		body, _ := io.ReadAll(r.Body)
		st := http.StatusCreated
		if s := r.URL.Query().Get("status"); s != "" {
			_, _ = fmt.Sscan(s, &st)
		}
		w.Header().Set("Location", fmt.Sprintf("/orders/%d", n))
		w.Header().Set("Set-Cookie", "s=secret")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		fmt.Fprintf(w, `{"run":%d,"echo":%q}`, n, body)
	}))
	return x
}

func post(target, key, body string) *http.Request {
	r := req(http.MethodPost, target, body)
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	return r
}

func testIdempotency(t *testing.T, newStore func(t *testing.T) driver.Store) {
	t.Run("FirstRunsThenReplays", func(t *testing.T) {
		x := newIdemHarness(newStore(t), nil)
		w1 := serve(x.h, post("/orders", "k1", `{"a":1}`))
		if w1.Code != 201 || x.runs.Load() != 1 {
			t.Fatalf("first: %d, runs %d", w1.Code, x.runs.Load())
		}
		w2 := serve(x.h, post("/orders", "k1", `{"a":1}`))
		if x.runs.Load() != 1 {
			t.Fatal("duplicate ran the handler")
		}
		if w2.Code != 201 || w2.Body.String() != w1.Body.String() || w2.Header().Get("Location") != "/orders/1" ||
			w2.Header().Get("Idempotent-Replayed") != "true" || w2.Header().Get("Set-Cookie") != "" {
			t.Fatalf("replay: %d %q %v", w2.Code, w2.Body, w2.Header())
		}
		// Another key runs.
		if w := serve(x.h, post("/orders", "k2", `{"a":1}`)); w.Code != 201 || x.runs.Load() != 2 {
			t.Fatalf("other key: %d runs %d", w.Code, x.runs.Load())
		}
	})
	t.Run("ConcurrentDuplicateConflicts", func(t *testing.T) {
		x := newIdemHarness(newStore(t), nil)
		x.hold = make(chan struct{})
		done := make(chan int)
		go func() { done <- serve(x.h, post("/orders", "k", `{}`)).Code }()
		<-x.entered
		w := serve(x.h, post("/orders", "k", `{}`))
		problemOf(t, w, http.StatusConflict)
		if w.Header().Get("Retry-After") == "" {
			t.Fatal("409 without Retry-After")
		}
		close(x.hold)
		if c := <-done; c != 201 {
			t.Fatalf("first: %d", c)
		}
		if w := serve(x.h, post("/orders", "k", `{}`)); w.Code != 201 || x.runs.Load() != 1 {
			t.Fatalf("after completion: %d runs %d", w.Code, x.runs.Load())
		}
	})
	t.Run("BurstRunsOnce", func(t *testing.T) {
		store := newStore(t)
		// Two "instances" (middleware values) over one store.
		a, b := newIdemHarness(store, nil), newIdemHarness(store, nil)
		a.entered, b.entered = make(chan struct{}, 64), make(chan struct{}, 64)
		var wg sync.WaitGroup
		codes := make([]int, 40)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := a.h
				if i%2 == 1 {
					h = b.h
				}
				codes[i] = serve(h, post("/orders", "burst", `{}`)).Code
			}()
		}
		wg.Wait()
		if n := a.runs.Load() + b.runs.Load(); n != 1 {
			t.Fatalf("handler ran %d times", n)
		}
		for _, c := range codes {
			if c != 201 && c != 409 {
				t.Fatalf("codes %v", codes)
			}
		}
	})
	t.Run("DifferentBodyUnprocessable", func(t *testing.T) {
		x := newIdemHarness(newStore(t), nil)
		serve(x.h, post("/orders", "k", `{"a":1}`))
		problemOf(t, serve(x.h, post("/orders", "k", `{"a":2}`)), http.StatusUnprocessableEntity)
		problemOf(t, serve(x.h, post("/other", "k", `{"a":1}`)), http.StatusUnprocessableEntity)
		problemOf(t, serve(x.h, post("/orders?x=1", "k", `{"a":1}`)), http.StatusUnprocessableEntity)
		if x.runs.Load() != 1 {
			t.Fatalf("runs %d", x.runs.Load())
		}
	})
	t.Run("ServerErrorReleasesKey", func(t *testing.T) {
		x := newIdemHarness(newStore(t), nil)
		if w := serve(x.h, post("/orders?status=500", "k", `{}`)); w.Code != 500 {
			t.Fatalf("%d", w.Code)
		}
		if w := serve(x.h, post("/orders?status=500", "k", `{}`)); w.Code != 500 || x.runs.Load() != 2 {
			t.Fatalf("retry after 500 did not run: runs %d", x.runs.Load())
		}
		serve(x.h, post("/orders?status=429", "k2", `{}`))
		serve(x.h, post("/orders?status=429", "k2", `{}`))
		if x.runs.Load() != 4 {
			t.Fatalf("429 was stored: runs %d", x.runs.Load())
		}
		// 4xx other than transient ones are final and replayed.
		serve(x.h, post("/orders?status=400", "k3", `{}`))
		if w := serve(x.h, post("/orders?status=400", "k3", `{}`)); w.Code != 400 || x.runs.Load() != 5 {
			t.Fatalf("400 not replayed: %d runs %d", w.Code, x.runs.Load())
		}
	})
	t.Run("PanicReleasesKey", func(t *testing.T) {
		store := newStore(t)
		var runs int
		h := httpx.Idempotency(store, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			runs++
			if runs == 1 {
				panic("boom")
			}
			w.WriteHeader(204)
		}))
		func() {
			defer func() { _ = recover() }()
			serve(h, post("/", "k", "x"))
		}()
		if w := serve(h, post("/", "k", "x")); w.Code != 204 || runs != 2 {
			t.Fatalf("after panic: %d runs %d", w.Code, runs)
		}
	})
	t.Run("MalformedKeysAndMethods", func(t *testing.T) {
		x := newIdemHarness(newStore(t), &httpx.IdempotencyOptions{MaxBody: 8})
		for _, k := range []string{"has space", strings.Repeat("k", 256), "tab\t", "é"} {
			problemOf(t, serve(x.h, post("/", k, "{}")), 400)
		}
		problemOf(t, serve(x.h, post("/", "k", strings.Repeat("x", 9))), 413)
		// GET ignores the header; POST without a key runs every time.
		serve(x.h, req(http.MethodGet, "/", "", "Idempotency-Key", "bad key"))
		serve(x.h, post("/", "", "{}"))
		serve(x.h, post("/", "", "{}"))
		if x.runs.Load() != 3 {
			t.Fatalf("runs %d", x.runs.Load())
		}
		req := newIdemHarness(newStore(t), &httpx.IdempotencyOptions{Required: true})
		problemOf(t, serve(req.h, post("/", "", "{}")), 400)
	})
	t.Run("ScopeSeparatesCallers", func(t *testing.T) {
		x := newIdemHarness(newStore(t), &httpx.IdempotencyOptions{Scope: func(r *http.Request) string { return r.Header.Get("X-User") }})
		a, b := post("/", "k", "{}"), post("/", "k", "{}")
		a.Header.Set("X-User", "alice")
		b.Header.Set("X-User", "bob")
		serve(x.h, a)
		serve(x.h, b)
		if x.runs.Load() != 2 {
			t.Fatalf("runs %d", x.runs.Load())
		}
	})
}

func TestIdempotencyMemory(t *testing.T) {
	testIdempotency(t, func(t *testing.T) driver.Store {
		s, err := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestIdempotencyRedis(t *testing.T) {
	c := testenv.RedisClient(t)
	testIdempotency(t, func(t *testing.T) driver.Store {
		s, err := rediscache.New(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return prefixed{s, testenv.Prefix(t)}
	})
}

func TestIdempotencyTTLMemoryFakeClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	s, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 100, Clock: clk})
	x := newIdemHarness(s, &httpx.IdempotencyOptions{TTL: time.Hour, LockTTL: time.Minute})
	serve(x.h, post("/", "k", "{}"))
	clk.Advance(59 * time.Minute)
	serve(x.h, post("/", "k", "{}"))
	if x.runs.Load() != 1 {
		t.Fatalf("replay within TTL ran: %d", x.runs.Load())
	}
	clk.Advance(2 * time.Minute)
	serve(x.h, post("/", "k", "{}"))
	if x.runs.Load() != 2 {
		t.Fatalf("expired key replayed: runs %d", x.runs.Load())
	}
}

func TestIdempotencyTTLRedis(t *testing.T) {
	s, _ := rediscache.New(testenv.RedisClient(t), nil)
	prefix := testenv.Prefix(t)
	x := newIdemHarness(s, &httpx.IdempotencyOptions{TTL: 300 * time.Millisecond, Prefix: prefix})
	serve(x.h, post("/", "k", "{}"))
	if serve(x.h, post("/", "k", "{}")); x.runs.Load() != 1 {
		t.Fatalf("runs %d", x.runs.Load())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, ok, err := s.Get(t.Context(), prefix+"k")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("record did not expire in Redis")
		}
		time.Sleep(50 * time.Millisecond) // polling a real engine's TTL
	}
	serve(x.h, post("/", "k", "{}"))
	if x.runs.Load() != 2 {
		t.Fatalf("after expiry: runs %d", x.runs.Load())
	}
}

// prefixed keeps the keys of one test apart in the shared Redis.
type prefixed struct {
	driver.Store
	p string
}

func (s prefixed) Get(ctx context.Context, k string) ([]byte, bool, error) {
	return s.Store.Get(ctx, s.p+k)
}
func (s prefixed) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	return s.Store.Set(ctx, s.p+k, v, ttl)
}
func (s prefixed) Add(ctx context.Context, k string, v []byte, ttl time.Duration) (bool, error) {
	return s.Store.Add(ctx, s.p+k, v, ttl)
}
func (s prefixed) Delete(ctx context.Context, ks ...string) error {
	for i := range ks {
		ks[i] = s.p + ks[i]
	}
	return s.Store.Delete(ctx, ks...)
}

// brokenStore fails every call, like an unreachable Redis.
type brokenStore struct{ driver.Store }

func (brokenStore) Add(context.Context, string, []byte, time.Duration) (bool, error) {
	return false, errors.New("connection refused")
}

func TestIdempotencyStoreDown(t *testing.T) {
	x := newIdemHarness(brokenStore{}, &httpx.IdempotencyOptions{Logger: slog.New(slog.DiscardHandler)})
	w := serve(x.h, post("/", "k", "{}"))
	problemOf(t, w, http.StatusServiceUnavailable)
	if x.runs.Load() != 0 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("runs %d, headers %v", x.runs.Load(), w.Header())
	}
}

func TestIdempotencyReplaysOnlyHandlerHeaders(t *testing.T) {
	store, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 100})
	n := 0
	inner := httpx.Idempotency(store, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.Header().Set("Location", "/x")
		w.WriteHeader(201)
	}))
	// An outer middleware sets per-request headers before the handler.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit-Remaining", r.Header.Get("X-Remaining"))
		inner.ServeHTTP(w, r)
	})
	r1 := post("/", "k", "{}")
	r1.Header.Set("X-Remaining", "9")
	serve(h, r1)
	r2 := post("/", "k", "{}")
	r2.Header.Set("X-Remaining", "8")
	w := serve(h, r2)
	if n != 1 || w.Header().Get("RateLimit-Remaining") != "8" || w.Header().Get("Location") != "/x" {
		t.Fatalf("runs %d, headers %v", n, w.Header())
	}
}

func TestIdempotencyMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	store, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 100})
	x := newIdemHarness(store, &httpx.IdempotencyOptions{MeterProvider: mp})
	serve(x.h, post("/", "a", "{}"))  // executed
	serve(x.h, post("/", "a", "{}"))  // replayed
	serve(x.h, post("/", "a", "{1}")) // mismatch
	x.hold = make(chan struct{})
	done := make(chan struct{})
	go func() { serve(x.h, post("/", "b", "{}")); close(done) }()
	<-x.entered
	<-x.entered                      // the executed and replayed runs did not enter; drain the two earlier signals
	serve(x.h, post("/", "b", "{}")) // conflict
	close(x.hold)
	<-done
	down := newIdemHarness(brokenStore{}, &httpx.IdempotencyOptions{MeterProvider: mp, Logger: slog.New(slog.DiscardHandler)})
	serve(down.h, post("/", "c", "{}")) // store_error

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "scalekit.httpx.idempotency" {
				continue
			}
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := p.Attributes.Value("scalekit.httpx.outcome")
				got[v.AsString()] += p.Value
			}
		}
	}
	want := map[string]int64{"executed": 2, "replayed": 1, "mismatch": 1, "conflict": 1, "store_error": 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
}
