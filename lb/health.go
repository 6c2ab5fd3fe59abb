package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// HealthCheck configures active health checking: the Balancer probes every
// endpoint on its own goroutine, once when the endpoint joins and then every
// Interval, and takes it out of rotation after Fall failed probes in a row;
// Rise passing probes in a row bring it back. A zero field means its
// default.
//
// The probe is an HTTP GET of Path when Path is set (healthy on a status
// accepted by Expect), a TCP connect otherwise, or Probe when that is set.
type HealthCheck struct {
	// Path is the HTTP path to GET, for example "/healthz". Empty means a
	// plain TCP connect.
	Path string
	// Scheme is "http" (default) or "https".
	Scheme string
	// Host, if set, is sent as the Host header of HTTP probes.
	Host string
	// Expect decides whether an HTTP status is healthy (default: 200–399).
	Expect func(status int) bool
	// Interval is the time between probes (default 10 s).
	Interval time.Duration
	// Timeout bounds one probe (default 2 s, at most Interval).
	Timeout time.Duration
	// Rise is the number of passing probes in a row that make an unhealthy
	// endpoint healthy again (default 2).
	Rise int
	// Fall is the number of failed probes in a row that make a healthy
	// endpoint unhealthy (default 3).
	Fall int
	// Client sends HTTP probes (default a client with keep-alives off, so
	// that a probe always exercises a fresh connection).
	Client *http.Client
	// Probe, if set, replaces the built-in probes: it returns nil when the
	// endpoint at addr is healthy. It must honour ctx.
	Probe func(ctx context.Context, addr string) error
}

func (h *HealthCheck) validate() error {
	if h == nil {
		return nil
	}
	if h.Interval < 0 || h.Timeout < 0 || h.Rise < 0 || h.Fall < 0 {
		return errors.New("lb: negative value in HealthCheck")
	}
	if h.Scheme != "" && h.Scheme != "http" && h.Scheme != "https" {
		return fmt.Errorf("lb: HealthCheck scheme %q is not http or https", h.Scheme)
	}
	return nil
}

func (h HealthCheck) withDefaults() HealthCheck {
	if h.Interval == 0 {
		h.Interval = 10 * time.Second
	}
	if h.Timeout == 0 {
		h.Timeout = 2 * time.Second
	}
	h.Timeout = min(h.Timeout, h.Interval)
	if h.Rise == 0 {
		h.Rise = 2
	}
	if h.Fall == 0 {
		h.Fall = 3
	}
	if h.Scheme == "" {
		h.Scheme = "http"
	}
	if h.Expect == nil {
		h.Expect = func(s int) bool { return s >= 200 && s < 400 }
	}
	if h.Client == nil {
		h.Client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	return h
}

// check runs one probe bounded by Timeout.
func (h *HealthCheck) check(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	return h.probe(ctx, addr)
}

// probe runs one health probe against addr.
func (h *HealthCheck) probe(ctx context.Context, addr string) error {
	if h.Probe != nil {
		return h.Probe(ctx, addr)
	}
	if h.Path == "" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	path := h.Path
	if path[0] != '/' {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.Scheme+"://"+addr+path, nil)
	if err != nil {
		return err
	}
	if h.Host != "" {
		req.Host = h.Host
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if !h.Expect(resp.StatusCode) {
		return fmt.Errorf("health check %s: status %d", path, resp.StatusCode)
	}
	return nil
}

// startHealthLocked starts be's probe loop when active checks are on.
func (b *Balancer) startHealthLocked(be *Backend) {
	if b.opts.HealthCheck == nil {
		return
	}
	hc := b.opts.HealthCheck.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	be.stopHC = cancel
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			err := hc.check(ctx, be.Addr())
			if ctx.Err() != nil {
				return
			}
			b.recordProbe(be, &hc, err)
			t := b.clk.NewTimer(hc.Interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
	}()
}

// recordProbe applies one probe result to be's rise/fall counters.
func (b *Balancer) recordProbe(be *Backend, hc *HealthCheck, err error) {
	b.mu.Lock()
	if b.closed || be.gone || be.draining.Load() {
		b.mu.Unlock()
		return
	}
	now := b.clk.Now()
	var ev []Event
	if err == nil {
		be.fall = 0
		be.rise++
		if !be.healthy && be.rise >= hc.Rise {
			be.healthy = true
			b.rebuildLocked(now)
			ev = append(ev, Event{Kind: EventHealthy, Addr: be.Addr(), Time: now})
		}
	} else {
		be.rise = 0
		be.fall++
		if be.healthy && be.fall >= hc.Fall {
			be.healthy = false
			b.rebuildLocked(now)
			ev = append(ev, Event{Kind: EventUnhealthy, Addr: be.Addr(), Time: now, Detail: err.Error()})
		}
	}
	b.mu.Unlock()
	b.emit(ev)
}

// EndpointState is a snapshot of one endpoint's health as the Balancer
// sees it.
type EndpointState struct {
	// Healthy is false after Fall failed active probes (true when active
	// checks are off).
	Healthy bool
	// Ejected is true while outlier detection keeps the endpoint out.
	Ejected bool
	// HalfOpen is true after an ejection ended, until the endpoint has
	// served OutlierOptions.HalfOpenSuccesses calls.
	HalfOpen bool
	// Draining is true once the endpoint left the set.
	Draining bool
	// Closed is true once draining finished.
	Closed bool
}

// State returns be's current health state. It is safe for concurrent use.
func (b *Balancer) State(be *Backend) EndpointState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return EndpointState{Healthy: be.healthy, Ejected: be.ejected, HalfOpen: be.halfOpen,
		Draining: be.draining.Load(), Closed: be.gone}
}
