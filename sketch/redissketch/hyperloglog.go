package redissketch

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/sketch"
)

// StdError is the relative standard error of a Redis HyperLogLog count:
// Redis uses 2^14 registers, 1.04/√16384 ≈ 0.81%.
const StdError = 1.04 / 128

// hllMergeScript merges the HyperLogLog strings ARGV[1…] (read from keys
// in other hash slots) into KEYS[1], through the scratch key KEYS[2]. It
// checks every string first, so an invalid one changes nothing.
var hllMergeScript = redis.NewScript(`
for i = 1, #ARGV do
  redis.call('SET', KEYS[2], ARGV[i])
  local r = redis.pcall('PFCOUNT', KEYS[2])
  if type(r) == 'table' and r.err then
    redis.call('DEL', KEYS[2])
    return r
  end
end
for i = 1, #ARGV do
  redis.call('SET', KEYS[2], ARGV[i])
  local r = redis.pcall('PFMERGE', KEYS[1], KEYS[1], KEYS[2])
  if type(r) == 'table' and r.err then
    redis.call('DEL', KEYS[2])
    return r
  end
end
redis.call('DEL', KEYS[2])
return 1
`)

// HyperLogLog is a distinct counter kept in Redis (PFADD, PFCOUNT,
// PFMERGE), shared by every instance that opens it with the same name.
//
// A HyperLogLog is safe for concurrent use. The zero value is not usable;
// create one with NewHyperLogLog.
type HyperLogLog struct {
	c      redis.UniversalClient
	key    string
	tmp    string
	tracer trace.Tracer
	name   attribute.KeyValue // scalekit.name: the counter's name
}

// NewHyperLogLog returns the shared distinct counter called name. It does
// no I/O.
func NewHyperLogLog(c redis.UniversalClient, name string, opts *Options) (*HyperLogLog, error) {
	if err := checkClient(c); err != nil {
		return nil, err
	}
	base, tr, err := keyBase(name, opts)
	if err != nil {
		return nil, err
	}
	return &HyperLogLog{c: c, key: base + ":hll", tmp: base + ":hll:merge", tracer: tr, name: otelx.NameKey.String(name)}, nil
}

// Key returns the Redis key of the counter.
func (h *HyperLogLog) Key() string { return h.key }

// Add adds elements (PFADD, one round trip) and reports whether the
// estimate may have changed. Adding no elements creates an empty counter.
func (h *HyperLogLog) Add(ctx context.Context, elements ...string) (_ bool, err error) {
	ctx, span := otelx.Start(ctx, h.tracer, "redissketch.HyperLogLog.Add", h.name, dbRedis, keyAttr(h.key), attribute.Int("scalekit.sketch.batch", len(elements)))
	defer func() { otelx.End(span, err) }()
	args := make([]any, len(elements))
	for i, e := range elements {
		args[i] = e
	}
	n, err := h.c.PFAdd(ctx, h.key, args...).Result()
	if err != nil {
		return false, redisErr(ctx, err, "add to %s", h.key)
	}
	return n == 1, nil
}

// Count returns the estimated number of distinct elements added (PFCOUNT);
// 0 for a counter never written.
func (h *HyperLogLog) Count(ctx context.Context) (_ uint64, err error) {
	ctx, span := otelx.Start(ctx, h.tracer, "redissketch.HyperLogLog.Count", h.name, dbRedis, keyAttr(h.key))
	defer func() { otelx.End(span, err) }()
	n, err := h.c.PFCount(ctx, h.key).Result()
	if err != nil {
		return 0, redisErr(ctx, err, "count %s", h.key)
	}
	return uint64(n), nil
}

// Merge adds every element of others to h, so h then counts the union;
// others are not modified. The others are read in one pipelined round
// trip and merged into h with PFMERGE in one script, so Merge also works
// when they live in other Redis Cluster slots. All must be on the same
// Redis deployment as h.
func (h *HyperLogLog) Merge(ctx context.Context, others ...*HyperLogLog) (err error) {
	ctx, span := otelx.Start(ctx, h.tracer, "redissketch.HyperLogLog.Merge", h.name, dbRedis, keyAttr(h.key), attribute.Int("scalekit.sketch.batch", len(others)))
	defer func() { otelx.End(span, err) }()
	keys := make([]string, 0, len(others))
	for _, o := range others {
		if o == nil {
			return fmt.Errorf("redissketch: merge nil HyperLogLog into %s: %w", h.key, sketch.ErrInvalidParameter)
		}
		if o.key != h.key {
			keys = append(keys, o.key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	// Read the sources (go-redis splits the pipeline by slot on Cluster).
	pipe := h.c.Pipeline()
	gets := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		gets[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return redisErr(ctx, err, "merge into %s: read sources", h.key)
	}
	blobs := make([]any, 0, len(keys))
	for i, g := range gets {
		v, err := g.Result()
		if err == redis.Nil {
			continue // never written: empty
		}
		if err != nil {
			return redisErr(ctx, err, "merge %s into %s", keys[i], h.key)
		}
		blobs = append(blobs, v)
	}
	if len(blobs) == 0 {
		return nil
	}
	if err := hllMergeScript.Run(ctx, h.c, []string{h.key, h.tmp}, blobs...).Err(); err != nil {
		return redisErr(ctx, err, "merge into %s", h.key)
	}
	return nil
}

// Clear deletes the counter.
func (h *HyperLogLog) Clear(ctx context.Context) (err error) {
	ctx, span := otelx.Start(ctx, h.tracer, "redissketch.HyperLogLog.Clear", h.name, dbRedis, keyAttr(h.key))
	defer func() { otelx.End(span, err) }()
	if err := h.c.Del(ctx, h.key).Err(); err != nil {
		return redisErr(ctx, err, "clear %s", h.key)
	}
	return nil
}

// Expire makes the counter expire after ttl (PEXPIRE, millisecond
// precision like Bloom.Expire; a ttl under 1ms is rounded up to 1ms), for
// example a daily counter kept for a week. ttl must be positive.
func (h *HyperLogLog) Expire(ctx context.Context, ttl time.Duration) (err error) {
	ctx, span := otelx.Start(ctx, h.tracer, "redissketch.HyperLogLog.Expire", h.name, dbRedis, keyAttr(h.key))
	defer func() { otelx.End(span, err) }()
	if ttl <= 0 {
		return fmt.Errorf("redissketch: expire %s after %v: %w", h.key, ttl, sketch.ErrInvalidParameter)
	}
	if err := h.c.PExpire(ctx, h.key, max(ttl, time.Millisecond)).Err(); err != nil {
		return redisErr(ctx, err, "expire %s", h.key)
	}
	return nil
}
