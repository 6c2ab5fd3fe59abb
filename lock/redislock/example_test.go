package redislock_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/redislock"
)

// exampleURL is the test binary's Redis, recorded by TestExampleSetup:
// tests run before examples, and examples cannot start a server.
var exampleURL string

func TestExampleSetup(t *testing.T) { exampleURL = testenv.RedisURL(t) }

// A lock on Redis whose holder writes through a fence: after its lease is
// lost and another holder has written, its stale write is rejected.
func Example() {
	ctx := context.Background()
	opt, err := redis.ParseURL(exampleURL)
	if err != nil {
		fmt.Println("run with go test, which starts redis-server:", err)
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	rdb.Del(ctx, "example:report", "example:{report}", "example:{report}:fence")

	d, err := redislock.New(rdb, &redislock.Options{Prefix: "example:"})
	if err != nil {
		panic(err)
	}
	lk, err := lock.New(d, nil)
	if err != nil {
		panic(err)
	}
	report, err := redislock.NewFence(rdb, "example:report")
	if err != nil {
		panic(err)
	}

	first, err := lk.Acquire(ctx, "report", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("first holder, token", first.Token(), report.Set(ctx, first.Token(), "draft 1"))

	// The first holder stalls; its lease is lost (simulated here by
	// deleting the key, as an expiry would) and a second holder takes over.
	rdb.Del(ctx, "example:{report}")
	second, _ := lk.Acquire(ctx, "report", nil)
	fmt.Println("second holder, token", second.Token(), report.Set(ctx, second.Token(), "draft 2"))

	// The first holder wakes up and writes with its old token.
	err = report.Set(ctx, first.Token(), "draft 1, late")
	fmt.Println("stale write rejected:", errors.Is(err, lock.ErrFenced))
	v, tok, _ := report.Get(ctx)
	fmt.Println(v, tok)
	_ = second.Release(ctx)
	// Output:
	// first holder, token 1 <nil>
	// second holder, token 2 <nil>
	// stale write rejected: true
	// draft 2 2
}
