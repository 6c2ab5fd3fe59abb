package redisidgen_test

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/redisidgen"
)

// Short-link IDs from a Redis counter: one INCRBY per 10,000 IDs. Redis
// must persist with appendfsync always for the counter to survive a crash
// without handing out a block twice.
func Example() {
	ctx := context.Background()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"localhost:6379"}})
	defer rdb.Close()
	src, err := redisidgen.New(rdb, &redisidgen.Options{KeyPrefix: "shortener:ids:"})
	if err != nil {
		panic(err)
	}
	links, err := idgen.NewSegment(src, "links", &idgen.SegmentOptions{BlockSize: 10_000})
	if err != nil {
		panic(err)
	}
	defer links.Close()
	id, err := links.Next(ctx)
	if err == nil {
		_ = idgen.EncodeBase62(uint64(id)) // the short code
	}
}
