package rediscache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/cache/rediscache"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

// exampleURL is the test binary's Redis, recorded by TestExampleSetup:
// tests run before examples, and examples cannot start a server.
var exampleURL string

func TestExampleSetup(t *testing.T) { exampleURL = testenv.RedisURL(t) }

// A tiered cache: memorycache L1 per instance, Redis L2 shared by all, and
// invalidations over Redis pub/sub.
func Example() {
	ctx := context.Background()
	opt, err := redis.ParseURL(exampleURL)
	if err != nil {
		fmt.Println("run with go test, which starts redis-server:", err)
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	l2, _ := rediscache.New(rdb, &rediscache.Options{Channel: "example:invalidate"})
	l1, _ := memorycache.New(&memorycache.Options[string, cache.Entry[string]]{MaxEntries: 10_000})
	c, err := cache.OpenTiered(ctx, l1, l2, &cache.Options[string, string]{TTL: time.Minute, Prefix: "example:"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)

	v, err := c.GetOrLoad(ctx, "greeting", func(context.Context, string) (string, error) { return "hello", nil })
	fmt.Println(v, err)
	// Idempotency keys: Add is an atomic SET NX with a TTL.
	first, _ := l2.Add(ctx, "example:idem:42", []byte("done"), time.Minute)
	second, _ := l2.Add(ctx, "example:idem:42", []byte("done"), time.Minute)
	fmt.Println(first, second)
	_ = l2.Delete(ctx, "example:idem:42", "example:greeting")
	// Output:
	// hello <nil>
	// true false
}
