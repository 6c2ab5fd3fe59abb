package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/httpx"
	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/locknodes"
	"github.com/scalekit-go/scalekit/sketch"
)

// node is one instance of the service: its own node-id lease and
// Snowflake, its own in-process L1 cache and Bloom filter, its own HTTP
// stack — over the shared backends.
type node struct {
	id    int
	cfg   config
	be    *backends
	lease *idgen.NodeLease
	ids   *idgen.Snowflake
	links *cache.Cache[string, Link]
	bloom *sketch.Bloom
	shed  *httpx.AdaptiveLimiter
	cons  *consumer
	del   *deleter
	hdl   http.Handler

	redirects, fromStore, published, publishErrs counter
}

func newNode(ctx context.Context, id int, cfg config, be *backends) (_ *node, err error) {
	n := &node{id: id, cfg: cfg, be: be}
	defer func() {
		if err != nil {
			n.Close(context.Background())
		}
	}()
	layout := idgen.TwitterLayout
	nodeIDs, err := locknodes.New(be.locker, nil)
	if err != nil {
		return nil, err
	}
	n.lease, err = idgen.AcquireNode(ctx, nodeIDs, cfg.Prefix, layout.MaxNode(), nil)
	if err != nil {
		return nil, fmt.Errorf("lease node id: %w", err)
	}
	n.ids, err = idgen.NewSnowflake(n.lease.ID(), &idgen.SnowflakeOptions{Lease: n.lease})
	if err != nil {
		return nil, err
	}
	l1, err := memorycache.New[string, cache.Entry[Link]](&memorycache.Options[string, cache.Entry[Link]]{MaxEntries: 100_000})
	if err != nil {
		return nil, err
	}
	n.links, err = cache.OpenTiered[string, Link](ctx, l1, be.l2, &cache.Options[string, Link]{
		TTL: 10 * time.Minute, Jitter: 0.2, NegativeTTL: 30 * time.Second,
		L1TTL: cfg.L1TTL, Prefix: cfg.Prefix + ":link:", Name: fmt.Sprintf("links-%d", id),
	})
	if err != nil {
		return nil, err
	}
	if n.bloom, err = sketch.NewBloom(1_000_000, 0.01); err != nil {
		return nil, err
	}
	if err := be.store.Codes(ctx, n.bloom.AddString); err != nil {
		return nil, fmt.Errorf("fill alias filter: %w", err)
	}
	n.shed = httpx.NewAdaptiveLimiter(&httpx.AdaptiveLimiterOptions{Name: fmt.Sprintf("node-%d", id), Initial: 200, Max: 5000})
	if n.del, err = newDeleter(n); err != nil {
		return nil, err
	}
	if !cfg.NoConsumer {
		n.cons = startConsumer(be.queue, be.stats, cfg.Logger.With("node", id), cfg.Crash)
	}
	n.hdl = n.routes()
	return n, nil
}

// Close stops the consumer, the cache and gives the node id back.
func (n *node) Close(ctx context.Context) error {
	var errs []error
	if n.cons != nil {
		n.cons.Close()
	}
	if n.del != nil {
		n.del.Close()
	}
	if n.links != nil {
		errs = append(errs, n.links.Close(ctx))
	}
	if n.lease != nil {
		errs = append(errs, n.lease.Release(ctx))
	}
	return errors.Join(errs...)
}

func (n *node) routes() http.Handler {
	mux := http.NewServeMux()
	health := httpx.NewHealth(nil)
	health.Register(mux)
	mux.HandleFunc("GET /{$}", n.handleIndex)
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /{code}", n.handleRedirect)
	mux.HandleFunc("GET /debug/scalekit", n.handleDebug)
	mux.Handle("GET /metrics", metricsHandler())

	api := http.NewServeMux()
	api.HandleFunc("POST /api/v1/links", n.handleCreate)
	api.HandleFunc("GET /api/v1/links", n.handleList)
	api.HandleFunc("POST /api/v1/links/import", n.handleImport)
	api.HandleFunc("GET /api/v1/links/{code}", n.handleGet)
	api.HandleFunc("PATCH /api/v1/links/{code}", n.handlePatch)
	api.HandleFunc("DELETE /api/v1/links/{code}", n.handleDelete)
	api.HandleFunc("GET /api/v1/links/{code}/stats", n.handleStats)
	api.HandleFunc("GET /api/v1/links/{code}/qr.png", n.handleQR)
	api.HandleFunc("GET /api/v1/links/{code}/qr.svg", n.handleQR)
	limited := httpx.RateLimit(n.be.limit, &httpx.RateLimitOptions{Key: n.limitKey})(httpx.Routes(api))
	mux.Handle("/api/", limited)

	stack := httpx.DefaultStack(&httpx.StackOptions{
		Logger:             n.cfg.Logger.With("node", n.id),
		Shed:               n.shed,
		Idempotency:        n.be.idem,
		IdempotencyOptions: &httpx.IdempotencyOptions{Prefix: n.cfg.Prefix + ":idem:", Scope: n.apiKey},
		Timeout:            10 * time.Second,
		MaxBodyBytes:       4 << 20, // CSV imports
	})
	return stack(httpx.Routes(mux))
}

// apiKey returns the request's valid API key, or "".
func (n *node) apiKey(r *http.Request) string {
	k := r.Header.Get("X-API-Key")
	if k == "" {
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			k = strings.TrimSpace(b)
		}
	}
	for _, v := range n.cfg.APIKeys {
		if k != "" && k == v {
			return k
		}
	}
	return ""
}

// limitKey names the rate-limit bucket: the API key, else the client IP.
func (n *node) limitKey(r *http.Request) (string, error) {
	if k := n.apiKey(r); k != "" {
		sum := sha256.Sum256([]byte(k))
		return "key:" + hex.EncodeToString(sum[:8]), nil
	}
	return "ip:" + clientIP(r), nil
}

// clientIP is the peer address, or — when the peer is the loopback proxy
// of -nodes — the first X-Forwarded-For entry it set.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			return strings.TrimSpace(first)
		}
	}
	return host
}

// load reads a link from the store on a cache miss.
func (n *node) load(ctx context.Context, code string) (Link, error) {
	n.fromStore.Add(1)
	l, err := n.be.store.Get(ctx, code)
	if errors.Is(err, ErrNotFound) {
		return l, cache.ErrNotFound
	}
	return l, err
}

// lookup returns a link through the cache.
func (n *node) lookup(ctx context.Context, code string) (Link, error) {
	l, err := n.links.GetOrLoad(ctx, code, n.load)
	if errors.Is(err, cache.ErrNotFound) {
		return l, ErrNotFound
	}
	return l, err
}

// validCode reports whether s can be a code or alias at all.
func validCode(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// handleRedirect is the hot path: cache → (visit limit) → click queue.
func (n *node) handleRedirect(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if !validCode(code) {
		httpx.Error(w, r, httpx.NewProblem(http.StatusNotFound, "no such link"))
		return
	}
	ctx := r.Context()
	l, err := n.lookup(ctx, code)
	switch {
	case errors.Is(err, ErrNotFound):
		httpx.Error(w, r, httpx.NewProblem(http.StatusNotFound, "no such link"))
		return
	case err != nil:
		httpx.Error(w, r, httpx.NewProblem(http.StatusServiceUnavailable, "link lookup failed"))
		return
	}
	now := time.Now()
	if l.ExpiresAt != nil && !now.Before(*l.ExpiresAt) {
		httpx.Error(w, r, httpx.NewProblem(http.StatusGone, "this link has expired"))
		return
	}
	if l.MaxVisits > 0 {
		// A limited link counts synchronously: one conditional UPDATE.
		if l, err = n.be.store.Visit(ctx, code); err != nil {
			if errors.Is(err, ErrGone) {
				httpx.Error(w, r, httpx.NewProblem(http.StatusGone, "this link reached its visit limit"))
				return
			}
			if errors.Is(err, ErrNotFound) {
				httpx.Error(w, r, httpx.NewProblem(http.StatusNotFound, "no such link"))
				return
			}
			httpx.Error(w, r, httpx.NewProblem(http.StatusServiceUnavailable, "visit count failed"))
			return
		}
	}
	n.redirects.Add(1)
	n.publish(ctx, r, code, now)
	status := http.StatusFound
	if l.Permanent || n.cfg.Permanent {
		status = http.StatusMovedPermanently
		httpx.CacheControl{Public: true, MaxAge: n.cfg.PermanentMaxAge}.Apply(w.Header())
		w.Header().Set("X-Tracking-Note", fmt.Sprintf("301: browsers and CDNs may reuse this redirect for %s without asking again; those clicks are not counted and later edits or deletion are not seen", n.cfg.PermanentMaxAge))
	} else {
		httpx.CacheControl{Private: true, NoStore: true}.Apply(w.Header())
		w.Header().Set("X-Tracking-Note", "302 with no-store: every click reaches the service and is counted; edits apply at once")
	}
	http.Redirect(w, r, l.URL, status)
}

// publish queues one click; a failure costs a click in the stats, never
// the redirect.
func (n *node) publish(ctx context.Context, r *http.Request, code string, now time.Time) {
	id, err := n.ids.Next(ctx)
	if err == nil {
		ua := r.UserAgent()
		sum := sha256.Sum256([]byte(clientIP(r) + "\x00" + ua))
		err = n.be.queue.Publish(ctx, Click{ID: id, Code: code, At: now.UTC(), Referrer: r.Referer(), UA: ua,
			Visitor: hex.EncodeToString(sum[:12])})
	}
	if err != nil {
		n.publishErrs.Add(1)
		n.cfg.Logger.Warn("click not published", "code", code, "err", err)
		return
	}
	n.published.Add(1)
}
