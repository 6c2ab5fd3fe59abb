package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scalekit-go/scalekit/lb"
)

// run serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting and waits up to cfg.Drain for open requests or connections.
func run(ctx context.Context, cfg config, ln net.Listener, log *slog.Logger) error {
	if err := cfg.validate(); err != nil {
		_ = ln.Close()
		return err
	}
	var routes []lb.Route
	var pools []*lb.Balancer
	defer func() {
		for _, b := range pools {
			_ = b.Close()
		}
	}()
	for _, spec := range cfg.Routes {
		r, err := buildRoute(ctx, cfg, spec, log)
		if err != nil {
			_ = ln.Close()
			return err
		}
		pools = append(pools, r.Balancer)
		routes = append(routes, r)
	}
	log.Info("lbproxy listening", "addr", ln.Addr().String(), "mode", cfg.Mode, "policy", cfg.Policy, "routes", len(routes))
	if cfg.Mode == "tcp" {
		return serveTCP(ctx, cfg, ln, routes[0].Balancer)
	}
	proxy, err := lb.NewReverseProxy(routes, &lb.ProxyOptions{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Drain)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-errc
	log.Info("lbproxy stopped")
	return err
}

func serveTCP(ctx context.Context, cfg config, ln net.Listener, b *lb.Balancer) error {
	p := lb.NewTCPProxy(b, &lb.TCPProxyOptions{ConnectTimeout: 5 * time.Second})
	errc := make(chan error, 1)
	go func() { errc <- p.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Drain)
	defer cancel()
	err := p.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, lb.ErrClosed) {
		return e
	}
	return err
}

// buildRoute parses "[host]/prefix=endpoints" and opens its pool.
func buildRoute(ctx context.Context, cfg config, spec string, log *slog.Logger) (lb.Route, error) {
	match, eps, ok := strings.Cut(spec, "=")
	if !ok || eps == "" {
		return lb.Route{}, fmt.Errorf("route %q: want [host]/prefix=endpoints", spec)
	}
	r := lb.Route{Name: match}
	if match != "" {
		i := strings.IndexByte(match, '/')
		if i < 0 {
			return lb.Route{}, fmt.Errorf("route %q: the match needs a path prefix starting with /", spec)
		}
		r.Host, r.PathPrefix = match[:i], match[i:]
	}
	policy, key, err := parsePolicy(cfg.Policy)
	if err != nil {
		return lb.Route{}, err
	}
	r.Key = key
	if cfg.Sticky != "" {
		r.Sticky = &lb.StickyCookie{Name: cfg.Sticky}
	}
	opts := &lb.Options{Name: match, Policy: policy, SlowStart: cfg.SlowStart, DrainTimeout: cfg.Drain,
		Outlier: &lb.OutlierOptions{FailureRate: 0.2},
		OnEvent: func(e lb.Event) {
			log.Info("endpoint "+e.Kind.String(), "route", match, "endpoint", e.Addr, "detail", e.Detail)
		}}
	switch {
	case cfg.Health == "tcp":
		opts.HealthCheck = &lb.HealthCheck{Interval: cfg.HealthInterval}
	case cfg.Health != "":
		opts.HealthCheck = &lb.HealthCheck{Path: cfg.Health, Interval: cfg.HealthInterval}
	}
	var res lb.Resolver
	dnsOpts := &lb.DNSOptions{Interval: cfg.DNSInterval, OnError: func(err error) {
		log.Warn("dns lookup failed", "route", match, "err", err)
	}}
	switch {
	case strings.HasPrefix(eps, "dns://"):
		host, port, err := net.SplitHostPort(strings.TrimPrefix(eps, "dns://"))
		if err != nil {
			return lb.Route{}, fmt.Errorf("route %q: %w", spec, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return lb.Route{}, fmt.Errorf("route %q: bad port %q", spec, port)
		}
		if res, err = lb.DNS(host, p, dnsOpts); err != nil {
			return lb.Route{}, err
		}
	case strings.HasPrefix(eps, "srv://"):
		if res, err = lb.SRV("", "", strings.TrimPrefix(eps, "srv://"), dnsOpts); err != nil {
			return lb.Route{}, err
		}
	default:
		list, err := parseEndpoints(eps)
		if err != nil {
			return lb.Route{}, fmt.Errorf("route %q: %w", spec, err)
		}
		res = lb.Static(list...)
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := lb.Open(octx, res, opts)
	if err != nil {
		return lb.Route{}, fmt.Errorf("route %q: %w", spec, err)
	}
	r.Balancer = b
	return r, nil
}

// parseEndpoints parses "host:port[*weight],...".
func parseEndpoints(s string) ([]lb.Endpoint, error) {
	var out []lb.Endpoint
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		addr, w, hasW := strings.Cut(part, "*")
		e := lb.Endpoint{Addr: addr}
		if hasW {
			n, err := strconv.Atoi(w)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("endpoint %q: weight must be a positive integer", part)
			}
			e.Weight = n
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("endpoint %q: %w", part, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func parsePolicy(s string) (lb.Policy, lb.KeyFunc, error) {
	switch {
	case s == "rr":
		return lb.RoundRobin(), nil, nil
	case s == "wrr":
		return lb.WeightedRoundRobin(), nil, nil
	case s == "random":
		return lb.Random(), nil, nil
	case s == "wrandom":
		return lb.WeightedRandom(), nil, nil
	case s == "leastconn":
		return lb.LeastConn(nil), nil, nil
	case s == "p2c":
		return lb.LeastResponseTime(nil), nil, nil
	case s == "bandwidth":
		return lb.LeastBandwidth(nil), nil, nil
	case s == "hash-ip":
		return lb.ConsistentHash(nil), lb.KeyFromIP(false), nil
	case strings.HasPrefix(s, "hash-header:"):
		return lb.ConsistentHash(nil), lb.KeyFromHeader(strings.TrimPrefix(s, "hash-header:")), nil
	case strings.HasPrefix(s, "hash-cookie:"):
		return lb.ConsistentHash(nil), lb.KeyFromCookie(strings.TrimPrefix(s, "hash-cookie:")), nil
	}
	return nil, nil, fmt.Errorf("unknown -policy %q", s)
}
