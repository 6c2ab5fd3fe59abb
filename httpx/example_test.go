package httpx_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/cache/rediscache"
	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
)

// A service: the recommended stack around a router, served with graceful
// shutdown on SIGINT.
func ExampleDefaultStack() {
	mux := http.NewServeMux()
	health := httpx.NewHealth(nil)
	health.Register(mux)
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		_ = httpx.WriteJSON(w, http.StatusOK, map[string]string{"hello": "world"})
	})
	stack := httpx.DefaultStack(&httpx.StackOptions{
		CORS: &httpx.CORSOptions{AllowedOrigins: []string{"https://app.example.com"}},
		Shed: httpx.NewAdaptiveLimiter(nil),
	})
	srv := httpx.NewServer(":8080", stack(httpx.Routes(mux)), &httpx.ServerOptions{Health: health, DrainDelay: 5 * time.Second})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := srv.Run(ctx, nil); err != nil {
		slog.Error("server", "error", err)
	}
}

func ExampleParseCollection() {
	spec := &httpx.CollectionSpec{
		DefaultLimit: 20, MaxLimit: 100,
		Sortable: []string{"created", "name"},
		Fields:   []string{"id", "name"},
		Filters:  map[string][]string{"status": nil, "price": {httpx.OpGte, httpx.OpLt}},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := httpx.ParseCollection(r, spec)
		if err != nil {
			httpx.Error(w, r, err) // 400 problem+json
			return
		}
		fmt.Println(c.Limit, c.Offset, c.Sort, c.Fields, c.Filters)
		httpx.SetPageHeaders(w, r, c, httpx.Page{Total: 95})
		w.WriteHeader(http.StatusOK)
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/items?limit=30&offset=30&sort=-created&price[gte]=10", nil))
	fmt.Println(w.Header().Get("X-Total-Count"))
	for _, l := range strings.Split(w.Header().Get("Link"), ", ") {
		fmt.Println(l)
	}

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/items?limit=many", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output:
	// 30 30 [-created] [] [{price gte [10]}]
	// 95
	// </items?limit=30&offset=0&price%5Bgte%5D=10&sort=-created>; rel="first"
	// </items?limit=30&offset=0&price%5Bgte%5D=10&sort=-created>; rel="prev"
	// </items?limit=30&offset=60&price%5Bgte%5D=10&sort=-created>; rel="next"
	// </items?limit=30&offset=90&price%5Bgte%5D=10&sort=-created>; rel="last"
	// 400 application/problem+json
}

func ExampleCursorCodec() {
	codec, _ := httpx.NewCursorCodec([]byte("a-secret-key-of-at-least-16-bytes"))
	type position struct {
		Created int64  `json:"c"`
		ID      string `json:"id"`
	}
	cursor, _ := codec.Encode(position{Created: 1767225600, ID: "ord_42"})
	var p position
	fmt.Println(codec.Decode(cursor, &p), p.ID)
	fmt.Println(codec.Decode(cursor[:len(cursor)-1]+"x", &p) != nil) // tampered
	// Output:
	// <nil> ord_42
	// true
}

func ExampleIdempotency() {
	store, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 10_000})
	n := 0
	h := httpx.Idempotency(store, &httpx.IdempotencyOptions{TTL: 24 * time.Hour})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n++
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, "order %d", n)
		}))
	for i := 0; i < 2; i++ {
		r := httptest.NewRequest("POST", "/orders", strings.NewReader(`{"sku":"A1"}`))
		r.Header.Set("Idempotency-Key", "5f2c9a")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body, "replayed:", w.Header().Get("Idempotent-Replayed") == "true")
	}
	// Output:
	// 201 order 1 replayed: false
	// 201 order 1 replayed: true
}

func ExampleCheckPreconditions() {
	current := httpx.Validators{ETag: httpx.WeakETag("v7"), HasETag: true, Exists: true}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if httpx.CheckPreconditions(w, r, current) {
			return // 304, 412 or 400 already written
		}
		w.WriteHeader(http.StatusNoContent) // apply the update
	})
	for _, etag := range []string{`W/"v7"`, `"v7"`} {
		r := httptest.NewRequest("GET", "/doc", nil)
		r.Header.Set("If-None-Match", etag)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println("GET If-None-Match", etag, w.Code)
	}
	r := httptest.NewRequest("PUT", "/doc", nil)
	r.Header.Set("If-Match", `"v6"`)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println("PUT If-Match stale", w.Code)
	// Output:
	// GET If-None-Match W/"v7" 304
	// GET If-None-Match "v7" 304
	// PUT If-Match stale 412
}

// The README example: a service with Redis-backed idempotency and
// sessions, per-client rate limiting, shedding and paginated collections.
func Example_service() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	store, _ := rediscache.New(rdb, nil) // shared by every instance
	perClient, _ := memrate.New(ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 100, Period: time.Second, Burst: 200}, nil)
	sessions, _ := httpx.NewSessions(store, [][]byte{[]byte(os.Getenv("SESSION_KEY"))}, nil)
	cursors, _ := httpx.NewCursorCodec([]byte(os.Getenv("CURSOR_KEY")))
	orders := &httpx.CollectionSpec{MaxLimit: 100, Sortable: []string{"created", "total"}, Cursors: cursors,
		Filters: map[string][]string{"status": nil, "total": {httpx.OpGte, httpx.OpLt}}}

	mux := http.NewServeMux()
	health := httpx.NewHealth(nil)
	health.AddCheck("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	health.Register(mux)
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		q, err := httpx.ParseCollection(r, orders) // bad limit/sort/cursor → 400 problem+json
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		page, next := loadOrders(r.Context(), q) // your query, keyset-paginated from q.Cursor
		httpx.SetPageHeaders(w, r, q, httpx.Page{Total: -1, NextCursor: cursors.EncodeBytes(next)})
		_ = httpx.WriteJSON(w, http.StatusOK, page)
	})

	stack := httpx.DefaultStack(&httpx.StackOptions{
		CORS:        &httpx.CORSOptions{AllowedOrigins: []string{"https://app.example.com"}, AllowCredentials: true},
		Shed:        httpx.NewAdaptiveLimiter(nil),
		RateLimiter: perClient,
		ETags:       &httpx.ETagsOptions{},
		Sessions:    sessions,
		Idempotency: store,
	})
	srv := httpx.NewServer(":8080", stack(httpx.Routes(mux)), &httpx.ServerOptions{Health: health, DrainDelay: 5 * time.Second})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_ = srv.Run(ctx, nil) // on SIGINT: /readyz fails, in-flight requests finish
}

func loadOrders(context.Context, *httpx.Collection) (page []any, next []byte) { return nil, nil }
