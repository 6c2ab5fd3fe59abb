package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// HealthOptions configure a Health. The zero value (or nil) is valid.
type HealthOptions struct {
	// Timeout bounds each readiness check. Default 2s.
	Timeout time.Duration
}

// Health serves liveness (/healthz) and readiness (/readyz) probes.
// Liveness answers 200 while the process can serve HTTP at all; readiness
// runs every registered check concurrently, each under Timeout, and answers
// 200 only when all pass and the server is not draining, 503 otherwise,
// with a JSON body naming each check's result. Server.Shutdown marks the
// Health draining so load balancers stop routing before connections close.
//
// Health is safe for concurrent use; the zero value is not usable, create
// one with NewHealth.
type Health struct {
	timeout  time.Duration
	mu       sync.RWMutex
	checks   []healthCheck
	draining atomic.Bool
}

type healthCheck struct {
	name string
	fn   func(context.Context) error
}

// NewHealth returns a Health with no checks.
func NewHealth(opts *HealthOptions) *Health {
	h := &Health{timeout: 2 * time.Second}
	if opts != nil && opts.Timeout > 0 {
		h.timeout = opts.Timeout
	}
	return h
}

// AddCheck registers a readiness check (for example a database ping). A
// check returns nil when its dependency is usable; it must honour its
// context.
func (h *Health) AddCheck(name string, check func(ctx context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, healthCheck{name, check})
}

// SetDraining marks the server as going away (readiness fails) or back.
func (h *Health) SetDraining(v bool) { h.draining.Store(v) }

// Draining reports whether SetDraining(true) is in effect.
func (h *Health) Draining() bool { return h.draining.Load() }

// CheckResult is one check's outcome in a readiness report.
type CheckResult struct {
	Status   string `json:"status"` // "ok" or "fail"
	Error    string `json:"error,omitempty"`
	Duration string `json:"duration"`
}

// Report is the body of a readiness answer.
type Report struct {
	Status string                 `json:"status"` // "ok", "fail" or "draining"
	Checks map[string]CheckResult `json:"checks,omitempty"`
}

// Check runs every check concurrently and returns the report; ready is
// true when all passed and the server is not draining.
func (h *Health) Check(ctx context.Context) (rep Report, ready bool) {
	h.mu.RLock()
	checks := append([]healthCheck(nil), h.checks...)
	h.mu.RUnlock()
	rep = Report{Status: "ok", Checks: make(map[string]CheckResult, len(checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ready = true
	for _, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, h.timeout)
			defer cancel()
			start := time.Now()
			err := runCheck(cctx, c.fn)
			res := CheckResult{Status: "ok", Duration: time.Since(start).Round(time.Microsecond).String()}
			if err != nil {
				res.Status, res.Error = "fail", err.Error()
			}
			mu.Lock()
			rep.Checks[c.name] = res
			if err != nil {
				ready = false
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if !ready {
		rep.Status = "fail"
	}
	if h.Draining() {
		rep.Status, ready = "draining", false
	}
	return rep, ready
}

// runCheck runs fn, turning a panic into an error and a check that
// ignores its context into a timeout.
func runCheck(ctx context.Context, fn func(context.Context) error) (err error) {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- errors.New("check panicked")
			}
		}()
		done <- fn(ctx)
	}()
	select {
	case err = <-done:
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Liveness returns the /healthz handler: 200 {"status":"ok"}.
func (h *Health) Liveness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeHealth(w, r, http.StatusOK, Report{Status: "ok"})
	})
}

// Readiness returns the /readyz handler: 200 with the report when ready,
// 503 with Retry-After otherwise.
func (h *Health) Readiness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, ok := h.Check(r.Context())
		st := http.StatusOK
		if !ok {
			st = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		}
		writeHealth(w, r, st, rep)
	})
}

// Register adds GET /healthz and GET /readyz to mux.
func (h *Health) Register(mux *http.ServeMux) {
	mux.Handle("GET /healthz", h.Liveness())
	mux.Handle("GET /readyz", h.Readiness())
}

func writeHealth(w http.ResponseWriter, r *http.Request, status int, rep Report) {
	b, _ := json.Marshal(rep)
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
