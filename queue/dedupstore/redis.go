package dedupstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/queue"
)

// Redis is a queue.DedupStore on Redis: one key per message id, holding
// "busy" for the claim's lease or "done" for the TTL. Safe for concurrent
// use.
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedis returns a store on c with keys prefix+id (default prefix
// "scalekit:dedup:").
func NewRedis(c redis.UniversalClient, prefix string) (*Redis, error) {
	if c == nil {
		return nil, errors.New("dedupstore: NewRedis with a nil client")
	}
	if prefix == "" {
		prefix = "scalekit:dedup:"
	}
	return &Redis{c: c, prefix: prefix}, nil
}

var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == "busy" then return redis.call("DEL", KEYS[1]) end return 0`)

// Claim implements queue.DedupStore.
func (r *Redis) Claim(ctx context.Context, id string, lease time.Duration) (queue.Claim, error) {
	k := r.prefix + id
	ok, err := r.c.SetNX(ctx, k, "busy", lease).Result()
	if err != nil {
		return 0, err
	}
	if ok {
		return queue.ClaimNew, nil
	}
	v, err := r.c.Get(ctx, k).Result()
	if errors.Is(err, redis.Nil) {
		return queue.ClaimBusy, nil // expired in between: let the retry claim it
	}
	if err != nil {
		return 0, err
	}
	if v == "done" {
		return queue.ClaimDone, nil
	}
	return queue.ClaimBusy, nil
}

// Done implements queue.DedupStore.
func (r *Redis) Done(ctx context.Context, id string, ttl time.Duration) error {
	return r.c.Set(ctx, r.prefix+id, "done", ttl).Err()
}

// Release implements queue.DedupStore.
func (r *Redis) Release(ctx context.Context, id string) error {
	return releaseScript.Run(ctx, r.c, []string{r.prefix + id}).Err()
}
