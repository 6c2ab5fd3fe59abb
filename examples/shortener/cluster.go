package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/lb"
)

// cluster is a running service: shared backends, N nodes, and — with more
// than one node — an lb.ReverseProxy in front of them on the public
// listener.
type cluster struct {
	cfg     config
	be      *backends
	nodes   []*node
	servers []*httpx.Server
	lns     []net.Listener
	bal     *lb.Balancer
	front   *http.Server
	addr    string
	wg      sync.WaitGroup
	errc    chan error
}

// startCluster opens the backends, starts the nodes and serves on ln.
func startCluster(ctx context.Context, cfg config, ln net.Listener) (_ *cluster, err error) {
	cfg.defaults()
	c := &cluster{cfg: cfg, addr: ln.Addr().String(), errc: make(chan error, cfg.Nodes+1)}
	defer func() {
		if err != nil {
			_ = ln.Close()
			c.Close(context.Background())
		}
	}()
	if c.be, err = openBackends(ctx, cfg); err != nil {
		return nil, err
	}
	for i := range cfg.Nodes {
		nd, err := newNode(ctx, i, cfg, c.be)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		c.nodes = append(c.nodes, nd)
	}
	if cfg.Nodes == 1 {
		c.serveNode(c.nodes[0], ln)
		return c, nil
	}
	eps := make([]lb.Endpoint, 0, cfg.Nodes)
	for _, nd := range c.nodes {
		nl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		c.serveNode(nd, nl)
		eps = append(eps, lb.Endpoint{Addr: nl.Addr().String()})
	}
	c.bal, err = lb.New(eps, &lb.Options{Name: "shortener", Policy: lb.LeastConn(nil),
		HealthCheck: &lb.HealthCheck{Path: "/healthz", Interval: 2 * time.Second, Fall: 2, Rise: 1},
		Outlier:     &lb.OutlierOptions{FailureRate: 0.5},
		OnEvent: func(e lb.Event) {
			cfg.Logger.Info("lb endpoint "+e.Kind.String(), "endpoint", e.Addr, "detail", e.Detail)
		}})
	if err != nil {
		return nil, err
	}
	c.be.lbState = func() []lbEndpoint { return balancerState(c.bal) }
	proxy, err := lb.NewReverseProxy([]lb.Route{{Name: "nodes", Balancer: c.bal, PreserveHost: true}},
		&lb.ProxyOptions{TrustForwarded: true, ErrorLog: log.New(slogWriter{cfg.Logger}, "", 0)})
	if err != nil {
		return nil, err
	}
	c.front = &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := c.front.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.errc <- err
		}
	}()
	return c, nil
}

func (c *cluster) serveNode(nd *node, ln net.Listener) {
	srv := httpx.NewServer("", nd.hdl, &httpx.ServerOptions{Logger: c.cfg.Logger})
	c.servers = append(c.servers, srv)
	c.lns = append(c.lns, ln)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.errc <- err
		}
	}()
}

// URL is the public address.
func (c *cluster) URL() string { return "http://" + c.addr }

// Close shuts down gracefully: the proxy stops taking requests, the nodes
// drain in-flight ones, consumers finish their batch, caches close and
// node-id leases are released.
func (c *cluster) Close(ctx context.Context) error {
	var errs []error
	if c.front != nil {
		errs = append(errs, c.front.Shutdown(ctx))
	}
	for _, s := range c.servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	c.wg.Wait()
	if c.bal != nil {
		errs = append(errs, c.bal.Close())
	}
	for _, nd := range c.nodes {
		errs = append(errs, nd.Close(ctx))
	}
	if c.be != nil {
		c.be.Close()
	}
	return errors.Join(errs...)
}

// slogWriter adapts the proxy's log.Logger to slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("proxy", "msg", string(p))
	return len(p), nil
}
