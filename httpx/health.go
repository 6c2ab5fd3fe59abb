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

	"github.com/scalekit-go/scalekit/clock"
)

// HealthOptions configure a Health. The zero value (or nil) is valid.
type HealthOptions struct {
	// Timeout bounds each readiness check. Default 2s.
	Timeout time.Duration
	// CacheTTL is how long the readiness handler reuses the checks'
	// results, so that probes (or anyone else) hitting /readyz cannot
	// hammer the dependencies; concurrent hits while the checks run wait
	// for that one run. Default 1s; negative runs the checks on every hit
	// (still coalescing concurrent ones).
	CacheTTL time.Duration
	// Details decides, per request, whether the readiness answer names each
	// check with its error text and duration. Default never: the public
	// answer is only {"status": "ok" | "fail" | "draining"}, because check
	// errors carry host names, users and addresses. Allow it, for example,
	// for requests from an internal network or carrying an admin token.
	Details func(*http.Request) bool
	// Clock times the cache. Default real time.
	Clock clock.Clock
}

// Health serves liveness (/healthz) and readiness (/readyz) probes.
// Liveness answers 200 while the process can serve HTTP at all; readiness
// runs every registered check concurrently, each under Timeout, and answers
// 200 only when all pass and the server is not draining, 503 otherwise.
// Its body is a summary ({"status":"fail"}) unless Details allows the
// check-by-check report for the request; results are cached for CacheTTL
// and concurrent hits share one run. Server.Shutdown marks the
// Health draining so load balancers stop routing before connections close.
//
// Health is safe for concurrent use; the zero value is not usable, create
// one with NewHealth.
type Health struct {
	timeout  time.Duration
	ttl      time.Duration
	details  func(*http.Request) bool
	clk      clock.Clock
	mu       sync.RWMutex
	checks   []healthCheck
	draining atomic.Bool

	cmu     sync.Mutex
	cached  *healthRun // last completed run
	running *healthRun // in progress, or nil
}

// healthRun is one run of the checks, shared by the hits that wait for it.
type healthRun struct {
	done  chan struct{}
	at    time.Time
	rep   Report
	ready bool
}

type healthCheck struct {
	name string
	fn   func(context.Context) error
}

// NewHealth returns a Health with no checks.
func NewHealth(opts *HealthOptions) *Health {
	h := &Health{timeout: 2 * time.Second, ttl: time.Second}
	if opts != nil {
		if opts.Timeout > 0 {
			h.timeout = opts.Timeout
		}
		if opts.CacheTTL != 0 {
			h.ttl = max(opts.CacheTTL, 0)
		}
		h.details = opts.Details
		h.clk = opts.Clock
	}
	h.clk = clock.Or(h.clk)
	return h
}

// AddCheck registers a readiness check (for example a database ping). A
// check returns nil when its dependency is usable; it must honour its
// context.
func (h *Health) AddCheck(name string, check func(ctx context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, healthCheck{name, check})
	h.cmu.Lock()
	h.cached = nil // a new check must run before the next answer
	h.cmu.Unlock()
}

// checkCached returns the results of a run no older than the cache TTL,
// starting one (or joining the one in progress) when there is none.
func (h *Health) checkCached(ctx context.Context) (Report, bool, error) {
	h.cmu.Lock()
	if c := h.cached; c != nil && h.clk.Since(c.at) < h.ttl {
		h.cmu.Unlock()
		return c.rep, c.ready, nil
	}
	run := h.running
	if run == nil {
		run = &healthRun{done: make(chan struct{})}
		h.running = run
		go func() {
			// Not tied to the first caller's request: the others share it.
			rep, ready := h.runChecks(context.Background())
			h.cmu.Lock()
			run.rep, run.ready, run.at = rep, ready, h.clk.Now()
			h.cached, h.running = run, nil
			h.cmu.Unlock()
			close(run.done)
		}()
	}
	h.cmu.Unlock()
	select {
	case <-run.done:
		return run.rep, run.ready, nil
	case <-ctx.Done():
		return Report{}, false, ctx.Err()
	}
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

// Check runs every check concurrently and returns the full report (not
// cached, with every check's error); ready is true when all passed and the
// server is not draining.
func (h *Health) Check(ctx context.Context) (rep Report, ready bool) {
	rep, ready = h.runChecks(ctx)
	if h.Draining() {
		rep.Status, ready = "draining", false
	}
	return rep, ready
}

// runChecks runs every check concurrently.
func (h *Health) runChecks(ctx context.Context) (rep Report, ready bool) {
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

// Readiness returns the /readyz handler: 200 when ready, 503 with
// Retry-After otherwise; the body is the summary, or the whole report when
// HealthOptions.Details allows it for the request. Draining is seen at
// once; check results are reused for CacheTTL.
func (h *Health) Readiness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, ok, err := h.checkCached(r.Context())
		if err != nil {
			return // the prober went away
		}
		if h.Draining() {
			rep.Status, ok = "draining", false
		}
		if h.details == nil || !h.details(r) {
			rep = Report{Status: rep.Status}
		}
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
