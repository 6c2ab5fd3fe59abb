package redissketch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/sketch"
)

// DefaultPrefix is the key prefix used when Options.KeyPrefix is empty.
const DefaultPrefix = "scalekit:sketch:"

// Options configures a Bloom or a HyperLogLog. A nil *Options means the
// defaults of every field.
type Options struct {
	// KeyPrefix is prepended to every key (default DefaultPrefix).
	KeyPrefix string
	// TracerProvider receives a span per Redis call, named
	// redissketch.<Type>.<Method> and carrying scalekit.name (the sketch's
	// name); nil means the global provider (no cost when none is installed).
	TracerProvider trace.TracerProvider
}

// keyBase returns prefix{name}: every key of one sketch starts with it, so
// they share a Redis Cluster hash slot (the first {…} is the hash tag). A
// name with braces of its own would end or empty the tag, so such a name is
// tagged by a digest instead, {#<24 hex>}, and kept readable after it. A
// prefix with a hash tag of its own ({app}) puts every sketch in that slot;
// a prefix whose first tag is empty ({}) would hash the keys of one sketch
// apart and is refused.
func keyBase(name string, opts *Options) (string, trace.Tracer, error) {
	if name == "" {
		return "", nil, fmt.Errorf("redissketch: empty sketch name: %w", sketch.ErrInvalidParameter)
	}
	p := DefaultPrefix
	var tp trace.TracerProvider
	if opts != nil {
		if opts.KeyPrefix != "" {
			p = opts.KeyPrefix
		}
		tp = opts.TracerProvider
	}
	if emptyHashTag(p) {
		return "", nil, fmt.Errorf("redissketch: key prefix %q starts an empty Redis Cluster hash tag {}: %w", p, sketch.ErrInvalidParameter)
	}
	return p + hashTag(name), otelx.Tracer(tp, "sketch/redissketch"), nil
}

// hashTag returns {name}, or {#digest}name when name has braces.
func hashTag(name string) string {
	if strings.ContainsAny(name, "{}") {
		sum := sha256.Sum256([]byte(name))
		return "{#" + hex.EncodeToString(sum[:12]) + "}" + name
	}
	return "{" + name + "}"
}

// emptyHashTag reports whether the first '{' of s is followed at once by
// '}': Redis Cluster then hashes the whole key, ignoring later tags.
func emptyHashTag(s string) bool {
	i := strings.IndexByte(s, '{')
	return i >= 0 && i+1 < len(s) && s[i+1] == '}'
}

func checkClient(c redis.UniversalClient) error {
	if c == nil {
		return errors.New("redissketch: nil Redis client")
	}
	return nil
}

// shapeErrPrefix starts the error reply of a script that found a Bloom
// filter of another shape under the key.
const shapeErrPrefix = "SKETCHSHAPE "

// redisErr wraps a Redis error with the operation, except that a
// cancelled or expired ctx is returned as ctx.Err(), unwrapped.
func redisErr(ctx context.Context, err error, format string, args ...any) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return cerr
	}
	return fmt.Errorf("redissketch: "+format+": %w", append(args, err)...)
}

// shapeError turns a script's shape error reply into an error wrapping
// sketch.ErrIncompatible; other errors go through redisErr.
func shapeError(ctx context.Context, op, key string, m, k uint64, err error) error {
	if err == nil {
		return nil
	}
	var re redis.Error
	if errors.As(err, &re) && strings.HasPrefix(re.Error(), shapeErrPrefix) {
		return fmt.Errorf("redissketch: %s %s: Redis holds a filter of shape %s, this one is m=%d k=%d: %w",
			op, key, strings.TrimPrefix(re.Error(), shapeErrPrefix), m, k, sketch.ErrIncompatible)
	}
	return redisErr(ctx, err, "%s %s", op, key)
}

func keyAttr(key string) attribute.KeyValue { return attribute.String("scalekit.sketch.key", key) }

// dbRedis is the db.system.name attribute of every span.
var dbRedis = attribute.String("db.system.name", "redis")
