package redislock

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/lock"
)

// Fence is a Redis value guarded by fencing tokens: a hash at Key with the
// fields "value" and "token". Set writes only if the writer's token is at
// least the stored one, in one Lua script, so a holder whose lease was lost
// cannot overwrite the write of a newer holder. The hash is a single key,
// so Fence works on a Cluster.
//
// A Fence is safe for concurrent use. Create it with NewFence.
type Fence struct {
	c   redis.UniversalClient
	key string
}

// NewFence returns the fenced value at key. It does no I/O; a nil client or
// an empty key is an error.
func NewFence(c redis.UniversalClient, key string) (*Fence, error) {
	if c == nil {
		return nil, errors.New("redislock: NewFence with a nil Redis client")
	}
	if key == "" {
		return nil, errors.New("redislock: NewFence with an empty key")
	}
	return &Fence{c: c, key: key}, nil
}

var fenceScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'token') or '0')
if tonumber(ARGV[1]) < cur then return cur end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'value', ARGV[2])
return -1`)

// Set stores value if token is not older than the token of the last
// accepted write; otherwise it returns an error wrapping lock.ErrFenced
// and changes nothing. One round trip.
func (f *Fence) Set(ctx context.Context, token int64, value string) error {
	cur, err := fenceScript.Run(ctx, f.c, []string{f.key}, token, value).Int64()
	if err != nil {
		return fmt.Errorf("redislock: fenced set of %q: %w", f.key, err)
	}
	if cur >= 0 {
		return fmt.Errorf("%w: %q: token %d is older than %d", lock.ErrFenced, f.key, token, cur)
	}
	return nil
}

// Write is Set; it lets a Fence serve as a locktest.Resource.
func (f *Fence) Write(ctx context.Context, token int64, value string) error {
	return f.Set(ctx, token, value)
}

// Get returns the stored value and the token of its writer ("" and 0 if
// nothing was written).
func (f *Fence) Get(ctx context.Context) (value string, token int64, err error) {
	res, err := f.c.HMGet(ctx, f.key, "value", "token").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", 0, fmt.Errorf("redislock: get %q: %w", f.key, err)
	}
	if len(res) == 2 {
		value, _ = res[0].(string)
		if s, ok := res[1].(string); ok {
			_, _ = fmt.Sscan(s, &token)
		}
	}
	return value, token, nil
}

// Read returns the stored value; it lets a Fence serve as a
// locktest.Resource.
func (f *Fence) Read(ctx context.Context) (string, error) {
	v, _, err := f.Get(ctx)
	return v, err
}
