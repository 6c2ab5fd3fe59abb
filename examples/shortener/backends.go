package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/cache/driver"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/cache/rediscache"
	"github.com/scalekit-go/scalekit/lock"
	lockdriver "github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/memlock"
	"github.com/scalekit-go/scalekit/lock/pglock"
	"github.com/scalekit-go/scalekit/lock/redislock"
	qdriver "github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/memqueue"
	"github.com/scalekit-go/scalekit/queue/pgqueue"
	"github.com/scalekit-go/scalekit/queue/redisqueue"
	"github.com/scalekit-go/scalekit/ratelimit"
	rldriver "github.com/scalekit-go/scalekit/ratelimit/driver"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
	"github.com/scalekit-go/scalekit/ratelimit/redisrate"
	sagadriver "github.com/scalekit-go/scalekit/saga/driver"
	"github.com/scalekit-go/scalekit/saga/memsaga"
	"github.com/scalekit-go/scalekit/saga/pgsaga"
	sharddriver "github.com/scalekit-go/scalekit/shard/driver"
	"github.com/scalekit-go/scalekit/shard/memshard"
	"github.com/scalekit-go/scalekit/shard/pgshard"
)

// config is everything a run needs; main fills it from flags, tests
// directly.
type config struct {
	Addr        string
	RedisURL    string
	PostgresDSN string
	Nodes       int
	Shards      int // physical link stores (default 4)
	// LogicalShards is the fixed number of logical shards codes hash to
	// (default 64); the shard map points each at a physical store.
	LogicalShards int
	// Permanent makes every redirect a 301 (default 302, per link 301).
	Permanent bool
	// PermanentMaxAge is the max-age of 301 answers (default 1h).
	PermanentMaxAge time.Duration
	// Anonymous allows POST /api/v1/links without an API key.
	Anonymous bool
	// APIKeys are accepted in X-API-Key (or Authorization: Bearer).
	APIKeys []string
	// KeyRate and ClientRate are requests per second on /api/ per API key
	// and per anonymous client IP (burst twice that).
	KeyRate, ClientRate int
	// L1TTL bounds how long a node serves a link from its in-process cache
	// after a lost invalidation (default 5s).
	L1TTL time.Duration
	// Visibility is the click queue's redelivery timeout (default 5s).
	Visibility time.Duration
	// Prefix namespaces Redis keys and PostgreSQL tables (tests).
	Prefix string
	// Crash, when set, is the consumer's fault hook (tests).
	Crash func(half int) bool
	// Queue picks the click queue's backend: "memqueue", "redisqueue"
	// (needs -redis) or "pgqueue" (needs -postgres); "" means redisqueue
	// with -redis, else pgqueue with -postgres, else memqueue.
	Queue string
	// FailStatsDelete, when set, is asked before each attempt of the
	// delete saga's stats step; an error fails that attempt (tests).
	FailStatsDelete func(code string, attempt int) error
	// NoConsumer starts no analytics consumer (tests start their own).
	NoConsumer bool
	Logger     *slog.Logger
}

func (c *config) defaults() {
	if c.Nodes <= 0 {
		c.Nodes = 1
	}
	if c.Shards <= 0 {
		c.Shards = 4
	}
	if c.LogicalShards <= 0 {
		c.LogicalShards = 64
	}
	if c.PermanentMaxAge <= 0 {
		c.PermanentMaxAge = time.Hour
	}
	if c.KeyRate <= 0 {
		c.KeyRate = 100
	}
	if c.ClientRate <= 0 {
		c.ClientRate = 20
	}
	if c.L1TTL <= 0 {
		c.L1TTL = 5 * time.Second
	}
	if c.Visibility <= 0 {
		c.Visibility = 5 * time.Second
	}
	if c.Prefix == "" {
		c.Prefix = "shortener"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// mode names the engines in use, for logs and the debug page.
func (c *config) mode() string {
	var parts []string
	if c.RedisURL != "" {
		parts = append(parts, "redis")
	}
	if c.PostgresDSN != "" {
		parts = append(parts, "postgres")
	}
	if len(parts) == 0 {
		return "memory"
	}
	return strings.Join(parts, "+")
}

// backends are the engines and stores every node of this process shares.
// With -redis and -postgres they are real engines, so nodes in separate
// processes would share them the same way.
type backends struct {
	cfg    config
	rdb    *redis.Client
	pool   *pgxpool.Pool
	shards *shardedStore
	store  *countingStore
	stats  StatsStore
	queue  ClickQueue
	l2     driver.Store // cache L2 and broadcast bus
	idem   driver.Store // Idempotency-Key records
	locker lockdriver.Locker
	// sagaLog and sagaLock back every node's saga orchestrator.
	sagaLog  sagadriver.Log
	sagaLock *lock.Locker
	limit    *apiLimiter
	// lbState reports the proxy's view of the nodes (set with -nodes > 1).
	lbState func() []lbEndpoint
}

func openBackends(ctx context.Context, cfg config) (_ *backends, err error) {
	b := &backends{cfg: cfg}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("-redis: %w", err)
		}
		b.rdb = redis.NewClient(opt)
		if err := b.rdb.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
	}
	if cfg.PostgresDSN != "" {
		b.pool, err = pgxpool.New(ctx, cfg.PostgresDSN)
		if err != nil {
			return nil, fmt.Errorf("-postgres: %w", err)
		}
		if err := b.pool.Ping(ctx); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}

	// Links: logical shards over physical stores, routed by a versioned
	// shard map (memshard in memory, pgshard with -postgres).
	var ms sharddriver.MapStore
	mapDriver := "memshard"
	if b.pool != nil {
		if ms, err = pgshard.Open(ctx, b.pool, &pgshard.Options{Prefix: shortIdent(cfg.Prefix, 24) + "_shard"}); err != nil {
			return nil, err
		}
		mapDriver = "pgshard"
	} else {
		ms = memshard.New()
	}
	b.shards, err = openShardedStore(ctx, ms, mapDriver, cfg.LogicalShards, cfg.Shards,
		func(ctx context.Context, node string) (LinkStore, error) {
			if b.pool != nil { // table <prefix>_links_<i>
				return openPGStore(ctx, b.pool, sqlIdent(cfg.Prefix)+"_"+sqlIdent(strings.ReplaceAll(node, "-", "_")))
			}
			return newMemStore(), nil
		})
	if err != nil {
		return nil, err
	}
	b.store = &countingStore{LinkStore: b.shards}

	// Clicks: package queue (redisqueue, pgqueue or memqueue) into a
	// stats store.
	if b.pool != nil {
		if b.stats, err = openPGStats(ctx, b.pool); err != nil {
			return nil, err
		}
	} else {
		b.stats = newMemStats()
	}
	if b.queue, err = openClickQueue(ctx, cfg, b); err != nil {
		return nil, err
	}

	// Cache L2, idempotency records, locks, limiters.
	var keyLim, ipLim *ratelimit.Limiter
	keyLimit := ratelimit.Limit{Algorithm: rldriver.GCRA, Rate: cfg.KeyRate, Period: time.Second, Burst: 2 * cfg.KeyRate}
	ipLimit := ratelimit.Limit{Algorithm: rldriver.GCRA, Rate: cfg.ClientRate, Period: time.Second, Burst: 2 * cfg.ClientRate}
	if b.rdb != nil {
		rs, err := rediscache.New(b.rdb, &rediscache.Options{Channel: cfg.Prefix + ":invalidate"})
		if err != nil {
			return nil, err
		}
		b.l2, b.idem = rs, rs
		if b.locker, err = redislock.New(b.rdb, nil); err != nil {
			return nil, err
		}
		if keyLim, err = redisLimiter(b.rdb, keyLimit, "api-key", cfg.Prefix+":rl:key:"); err != nil {
			return nil, err
		}
		if ipLim, err = redisLimiter(b.rdb, ipLimit, "client-ip", cfg.Prefix+":rl:ip:"); err != nil {
			return nil, err
		}
	} else {
		bus := memorycache.NewBus()
		if b.l2, err = memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 1 << 20, Bus: bus}); err != nil {
			return nil, err
		}
		if b.idem, err = memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 1 << 16}); err != nil {
			return nil, err
		}
		if b.pool != nil {
			if b.locker, err = pglock.Open(ctx, b.pool, nil); err != nil {
				return nil, err
			}
		} else {
			b.locker = memlock.New(nil)
		}
		if keyLim, err = memrate.New(keyLimit, nil); err != nil {
			return nil, err
		}
		if ipLim, err = memrate.New(ipLimit, nil); err != nil {
			return nil, err
		}
	}
	b.limit = &apiLimiter{key: keyLim, ip: ipLim}

	// Saga log (deleting a link and its stats): memsaga in memory,
	// pgsaga with -postgres; saga leases through the same lock backend.
	if b.sagaLock, err = lock.New(b.locker, nil); err != nil {
		return nil, err
	}
	if b.pool != nil {
		p := shortIdent(cfg.Prefix, 40)
		if b.sagaLog, err = pgsaga.Open(ctx, b.pool, &pgsaga.Options{SagaTable: p + "_sagas", TxTable: p + "_saga_tx"}); err != nil {
			return nil, err
		}
	} else {
		b.sagaLog = memsaga.New(nil)
	}
	return b, nil
}

// Close releases the engines.
func (b *backends) Close() {
	if b.queue != nil {
		_ = b.queue.Close()
	}
	if b.stats != nil {
		_ = b.stats.Close()
	}
	if b.shards != nil {
		_ = b.shards.Close()
	}
	if c, ok := b.l2.(interface{ Close() error }); ok {
		_ = c.Close()
	}
	if b.pool != nil {
		b.pool.Close()
	}
	if b.rdb != nil {
		_ = b.rdb.Close()
	}
}

// apiLimiter sends "key:…" buckets to the per-API-key limiter and the rest
// (anonymous clients, by IP) to the per-client one, and counts refusals.
type apiLimiter struct {
	key, ip           *ratelimit.Limiter
	allowed, rejected counter
	keyRej, clientRej counter
}

func (a *apiLimiter) Allow(ctx context.Context, key string, n int) (ratelimit.Decision, error) {
	l, isKey := a.ip, false
	if strings.HasPrefix(key, "key:") {
		l, isKey = a.key, true
	}
	d, err := l.Allow(ctx, key, n)
	switch {
	case err != nil:
	case d.Allowed:
		a.allowed.Add(1)
	default:
		a.rejected.Add(1)
		if isKey {
			a.keyRej.Add(1)
		} else {
			a.clientRej.Add(1)
		}
	}
	return d, err
}

// sqlIdent keeps the letters, digits and underscores of s (lower case), so
// a prefix can name tables.
func sqlIdent(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 || b.String()[0] >= '0' && b.String()[0] <= '9' {
		return "t" + b.String()
	}
	return b.String()
}

// shortIdent is sqlIdent(s) cut to at most n bytes (table and channel
// names derived from it must stay within PostgreSQL's 63-byte limit); a
// cut name ends in a hash of the whole, so distinct prefixes stay distinct.
func shortIdent(s string, n int) string {
	id := sqlIdent(s)
	if len(id) > n {
		h := fnv.New32a()
		_, _ = h.Write([]byte(id))
		id = fmt.Sprintf("%s_%08x", id[:n-9], h.Sum32())
	}
	return id
}

// redisLimiter wraps a redisrate driver in a ratelimit.Limiter named for
// its metrics.
func redisLimiter(rdb redis.UniversalClient, lim ratelimit.Limit, name, prefix string) (*ratelimit.Limiter, error) {
	d, err := redisrate.New(rdb, lim, &redisrate.Options{Prefix: prefix, Name: name})
	if err != nil {
		return nil, err
	}
	return ratelimit.New(d, &ratelimit.Options{Name: name})
}

// openClickQueue opens the click queue on the backend cfg.Queue names (or
// the default for the engines in use).
func openClickQueue(ctx context.Context, cfg config, b *backends) (ClickQueue, error) {
	kind := cfg.Queue
	if kind == "" {
		switch {
		case b.rdb != nil:
			kind = "redisqueue"
		case b.pool != nil:
			kind = "pgqueue"
		default:
			kind = "memqueue"
		}
	}
	var d qdriver.Queue
	switch {
	case kind == "memqueue":
		d = memqueue.New(nil)
	case kind == "redisqueue" && b.rdb != nil:
		rq, err := redisqueue.New(b.rdb, &redisqueue.Options{Prefix: cfg.Prefix + ":q:"})
		if err != nil {
			return nil, err
		}
		d = rq
	case kind == "pgqueue" && b.pool != nil:
		pq, err := pgqueue.Open(ctx, b.pool, nil)
		if err != nil {
			return nil, err
		}
		d = pq
	default:
		return nil, fmt.Errorf("-queue %q: unknown, or its engine (-redis / -postgres) is not given", kind)
	}
	return openKitQueue(ctx, d, kind, cfg.Visibility)
}
