package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	var cfg config
	var keys string
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address")
	flag.StringVar(&cfg.RedisURL, "redis", "", "Redis URL (redis://host:port/0): cache L2 and invalidation, limiter, idempotency records, node-id and saga leases, click queue (redisqueue)")
	flag.StringVar(&cfg.PostgresDSN, "postgres", "", "PostgreSQL DSN: link shards and shard map, click stats, saga log; click queue (pgqueue) without -redis")
	flag.StringVar(&cfg.Queue, "queue", "", "click queue backend: memqueue, redisqueue or pgqueue (default: redisqueue with -redis, else pgqueue with -postgres, else memqueue)")
	flag.IntVar(&cfg.Nodes, "nodes", 1, "instances to run behind an lb.ReverseProxy")
	flag.IntVar(&cfg.Shards, "shards", 4, "physical link stores the shard map spreads logical shards over (first start only)")
	flag.IntVar(&cfg.LogicalShards, "logical-shards", 64, "logical shards codes hash to (fixed once the map exists)")
	flag.BoolVar(&cfg.Permanent, "permanent", false, "answer every redirect with 301 (default 302; per link with \"permanent\": true)")
	flag.BoolVar(&cfg.Anonymous, "anonymous", true, "allow creating links without an API key")
	flag.StringVar(&keys, "api-keys", "", "comma-separated API keys for write endpoints (default: one random key, printed)")
	flag.IntVar(&cfg.KeyRate, "key-rate", 100, "API requests per second per API key")
	flag.IntVar(&cfg.ClientRate, "client-rate", 20, "API requests per second per anonymous client IP")
	flag.Parse()
	for _, k := range strings.Split(keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.APIKeys = append(cfg.APIKeys, k)
		}
	}
	generated := false
	if len(cfg.APIKeys) == 0 {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		cfg.APIKeys, generated = []string{"sk_" + hex.EncodeToString(b)}, true
	}
	cfg.Logger = slog.Default()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		slog.Error("listen", "addr", cfg.Addr, "err", err)
		os.Exit(1)
	}
	c, err := startCluster(ctx, cfg, ln)
	if err != nil {
		slog.Error("start", "err", err)
		os.Exit(1)
	}
	fmt.Printf("scalekit shortener (%s, %d node(s)) — open %s\n", c.cfg.mode(), c.cfg.Nodes, c.URL())
	fmt.Printf("  dashboard %s/debug/scalekit   metrics %s/metrics\n", c.URL(), c.URL())
	if generated {
		fmt.Printf("  API key for PATCH/DELETE/import: %s\n", cfg.APIKeys[0])
	}
	fmt.Printf("  try: curl -si -X POST %s/api/v1/links -H 'Content-Type: application/json' -d '{\"url\":\"https://go.dev\"}'\n", c.URL())
	select {
	case <-ctx.Done():
	case err = <-c.errc:
		slog.Error("serve", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if cerr := c.Close(sctx); cerr != nil {
		slog.Error("shutdown", "err", cerr)
	}
	slog.Info("shortener stopped")
	if err != nil {
		os.Exit(1)
	}
}
