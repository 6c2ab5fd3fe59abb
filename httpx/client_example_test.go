package httpx_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/resilience"
)

// A client that retries an overloaded backend, bounds every attempt, and
// fails fast while the backend's breaker is open.
func ExampleNewTransport() {
	var hits atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer backend.Close()

	tr, err := httpx.NewTransport(nil, &httpx.TransportOptions{
		Timeout:        5 * time.Second,
		AttemptTimeout: time.Second,
		Retry:          &httpx.RetryOptions{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond},
		Breaker:        &httpx.BreakerOptions{FailureThreshold: 5, Timeout: 10 * time.Second},
	})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: tr}
	resp, err := client.Get(backend.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), "after", hits.Load(), "attempts")
	// Output: 200 hello after 2 attempts
}

// An open breaker refuses requests without sending them.
func ExampleNewBreakerTransport() {
	var hits atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer backend.Close()

	br, err := httpx.NewBreakerTransport(nil, &httpx.BreakerOptions{
		FailureThreshold: 2,
		Timeout:          time.Minute,
		OnStateChange: func(host string, from, to resilience.State) {
			fmt.Println("breaker", from, "->", to)
		},
	})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: br}
	for i := 0; i < 3; i++ {
		resp, err := client.Get(backend.URL)
		if err != nil {
			fmt.Println("refused:", errors.Is(err, resilience.ErrOpenState))
			continue
		}
		resp.Body.Close()
		fmt.Println("status", resp.StatusCode)
	}
	fmt.Println("backend saw", hits.Load(), "requests")
	// Output:
	// status 502
	// breaker closed -> open
	// status 502
	// refused: true
	// backend saw 2 requests
}

// Only requests that are safe to repeat are retried: a POST needs an
// Idempotency-Key, and its body is replayed from GetBody.
func ExampleRetryTransport() {
	var hits atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer backend.Close()

	rt, err := httpx.RetryTransport(nil, &httpx.RetryOptions{InitialBackoff: time.Millisecond})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: rt}
	for _, key := range []string{"", "order-42"} {
		hits.Store(0)
		req, _ := http.NewRequest(http.MethodPost, backend.URL, nil)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := client.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Printf("key %q: %d after %d attempt(s)\n", key, resp.StatusCode, hits.Load())
	}
	// Output:
	// key "": 503 after 1 attempt(s)
	// key "order-42": 201 after 2 attempt(s)
}
