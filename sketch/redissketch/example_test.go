package redissketch_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/sketch/redissketch"
)

// exampleURL is the test binary's Redis, recorded by TestExampleSetup:
// tests run before examples, and examples cannot start a server.
var exampleURL string

func TestExampleSetup(t *testing.T) { exampleURL = testenv.RedisURL(t) }

// Every instance of a sign-up service checks and claims usernames in one
// shared filter, and counts daily active users in one shared HyperLogLog.
func Example() {
	ctx := context.Background()
	opt, err := redis.ParseURL(exampleURL)
	if err != nil {
		fmt.Println("run with go test, which starts redis-server:", err)
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	opts := &redissketch.Options{KeyPrefix: "example:"}

	taken, err := redissketch.NewBloom(rdb, "usernames", 1_000_000, 0.001, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer taken.Clear(ctx)
	for _, name := range []string{"alice", "bob", "alice"} {
		maybeTaken, err := taken.TestAndAdd(ctx, []byte(name))
		if err != nil {
			fmt.Println(err)
			return
		}
		// false: certainly new. true: ask the user database to be sure.
		fmt.Println(name, "maybe taken:", maybeTaken)
	}

	dau, _ := redissketch.NewHyperLogLog(rdb, "dau:2026-11-23", opts)
	defer dau.Clear(ctx)
	for i := range 5000 {
		if _, err := dau.Add(ctx, "user-"+strconv.Itoa(i%1000)); err != nil {
			fmt.Println(err)
			return
		}
	}
	n, _ := dau.Count(ctx)
	fmt.Println("daily active users ≈", n, "(exactly 1000)")
	// Output:
	// alice maybe taken: false
	// bob maybe taken: false
	// alice maybe taken: true
	// daily active users ≈ 1003 (exactly 1000)
}
