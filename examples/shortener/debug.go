package main

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/lb"
)

//go:embed web
var webFS embed.FS

func staticHandler() http.Handler {
	sub, _ := fs.Sub(webFS, "web")
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

func (n *node) handleIndex(w http.ResponseWriter, r *http.Request) {
	b, err := webFS.ReadFile("web/index.html")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
}

var (
	metricsOnce sync.Once
	metricsHdl  http.Handler
)

// metricsHandler installs, once per process, an OpenTelemetry meter
// provider whose reader is the Prometheus exporter, so every scalekit
// instrument (cache hits, limiter decisions, lb picks, HTTP durations…)
// is scraped from /metrics.
func metricsHandler() http.Handler {
	metricsOnce.Do(func() {
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			metricsHdl = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				httpx.Error(w, r, err)
			})
			return
		}
		otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)))
		metricsHdl = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	})
	return metricsHdl
}

// debugState is the JSON of /debug/scalekit.
type debugState struct {
	Node     int            `json:"node"`
	Mode     string         `json:"mode"`
	Time     time.Time      `json:"time"`
	Idgen    map[string]any `json:"idgen"`
	Cache    map[string]any `json:"cache"`
	Store    map[string]any `json:"store"`
	Shards   map[string]any `json:"shards"`
	Bloom    map[string]any `json:"bloom"`
	Limits   map[string]any `json:"ratelimit"`
	Shed     map[string]any `json:"shed"`
	Queue    map[string]any `json:"queue"`
	Saga     map[string]any `json:"saga"`
	Redirect map[string]any `json:"redirects"`
	LB       []lbEndpoint   `json:"lb"`
}

// lbEndpoint is one node as the proxy's balancer sees it.
type lbEndpoint struct {
	Addr      string `json:"addr"`
	Healthy   bool   `json:"healthy"`
	Ejected   bool   `json:"ejected"`
	Breaker   string `json:"breaker"`
	InFlight  int64  `json:"in_flight"`
	Picks     uint64 `json:"picks"`
	LatencyMS int64  `json:"latency_ms"`
}

func balancerState(b *lb.Balancer) []lbEndpoint {
	now := time.Now()
	var out []lbEndpoint
	for _, be := range b.Backends() {
		st := b.State(be)
		out = append(out, lbEndpoint{Addr: be.Addr(), Healthy: st.Healthy, Ejected: st.Ejected, Breaker: be.BreakerState(),
			InFlight: be.InFlight(), Picks: be.Picks(), LatencyMS: be.Latency(now).Milliseconds()})
	}
	return out
}

func (n *node) debugState(ctx context.Context) debugState {
	cs := n.links.Stats()
	backlog, qerr := n.be.queue.Backlog(ctx)
	dlq, derr := n.be.queue.DeadLetters(ctx)
	q := map[string]any{"backend": n.be.queue.Backend(), "backlog": backlog, "dlq": dlq,
		"published": n.published.Load(), "publish_errors": n.publishErrs.Load()}
	if err := errors.Join(qerr, derr); err != nil {
		q["error"] = err.Error()
	}
	if n.cons != nil {
		q["consumer"] = map[string]any{"applied": n.cons.applied.Load(), "duplicates_skipped": n.cons.dupes.Load(), "batches": n.cons.batches.Load()}
	}
	st := debugState{
		Node: n.id, Mode: n.cfg.mode(), Time: time.Now().UTC(),
		Idgen: map[string]any{"namespace": n.lease.Namespace(), "node_id": n.lease.ID(), "lease_ok": n.lease.Err() == nil},
		Cache: map[string]any{"hits": cs.Hits, "misses": cs.Misses, "negative_hits": cs.NegativeHits, "loads": cs.Loads,
			"hit_ratio": cs.HitRatio(), "evictions": cs.Evictions, "l1_ttl": n.cfg.L1TTL.String()},
		Store:  map[string]any{"gets": n.be.store.gets.Load(), "visits": n.be.store.visits.Load()},
		Shards: n.be.shards.debug(),
		Bloom:  map[string]any{"estimated_count": n.bloom.EstimatedCount(), "false_positive_rate": n.bloom.EstimatedFalsePositiveRate()},
		Limits: map[string]any{"allowed": n.be.limit.allowed.Load(), "rejected": n.be.limit.rejected.Load(),
			"rejected_per_key": n.be.limit.keyRej.Load(), "rejected_per_client": n.be.limit.clientRej.Load(),
			"key_rate": n.cfg.KeyRate, "client_rate": n.cfg.ClientRate},
		Shed:     map[string]any{"limit": n.shed.Limit(), "in_flight": n.shed.InFlight()},
		Queue:    q,
		Saga:     n.del.debug(ctx),
		Redirect: map[string]any{"served": n.redirects.Load(), "cache_misses_to_store": n.fromStore.Load()},
	}
	if n.be.lbState != nil {
		st.LB = n.be.lbState()
	}
	return st
}

func (n *node) handleDebug(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("format") == "json" || (r.Header.Get("Accept") == "application/json") {
		httpx.CacheControl{NoStore: true}.Apply(w.Header())
		_ = httpx.WriteJSON(w, http.StatusOK, n.debugState(r.Context()))
		return
	}
	b, err := webFS.ReadFile("web/debug.html")
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
}
