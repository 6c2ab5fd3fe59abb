package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// routeFlags collects repeated -route flags.
type routeFlags []string

func (r *routeFlags) String() string     { return strings.Join(*r, " ") }
func (r *routeFlags) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	var cfg config
	flag.StringVar(&cfg.Listen, "listen", ":8080", "listen address")
	flag.StringVar(&cfg.Mode, "mode", "http", "http (L7 reverse proxy) or tcp (L4 proxy)")
	flag.StringVar(&cfg.Policy, "policy", "p2c", "rr, wrr, random, wrandom, leastconn, p2c, bandwidth, hash-ip, hash-header:NAME, hash-cookie:NAME")
	flag.Var((*routeFlags)(&cfg.Routes), "route", "[host]/prefix=endpoints (repeatable; for tcp: =endpoints)")
	flag.StringVar(&cfg.Health, "health", "", "active health check: an HTTP path such as /healthz, or tcp")
	flag.DurationVar(&cfg.HealthInterval, "health-interval", 5*time.Second, "time between health checks")
	flag.StringVar(&cfg.Sticky, "sticky", "", "cookie name for sticky sessions (http)")
	flag.DurationVar(&cfg.SlowStart, "slow-start", 0, "ramp up new endpoints over this window")
	flag.DurationVar(&cfg.Drain, "drain", 30*time.Second, "drain deadline for removed endpoints and for shutdown")
	flag.DurationVar(&cfg.DNSInterval, "dns-interval", 30*time.Second, "re-resolution interval of dns:// and srv:// endpoints")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until shutdown (for bench/cmd/proxybench)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			slog.Error("cpuprofile", "err", err)
			os.Exit(1)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		slog.Error("listen", "addr", cfg.Listen, "err", err)
		os.Exit(1)
	}
	if err := run(ctx, cfg, ln, slog.Default()); err != nil {
		slog.Error("lbproxy", "err", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	Listen         string
	Mode           string
	Policy         string
	Routes         []string
	Health         string
	HealthInterval time.Duration
	Sticky         string
	SlowStart      time.Duration
	Drain          time.Duration
	DNSInterval    time.Duration
}

func (c config) validate() error {
	if c.Mode != "http" && c.Mode != "tcp" {
		return fmt.Errorf("-mode %q: want http or tcp", c.Mode)
	}
	if len(c.Routes) == 0 {
		return fmt.Errorf("no -route given")
	}
	if c.Mode == "tcp" && len(c.Routes) != 1 {
		return fmt.Errorf("tcp mode takes exactly one -route, got %d", len(c.Routes))
	}
	return nil
}
