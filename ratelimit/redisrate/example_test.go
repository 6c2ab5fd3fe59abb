package redisrate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
	"github.com/scalekit-go/scalekit/ratelimit/redisrate"
)

// exampleURL is the test binary's Redis, recorded by TestExampleSetup:
// tests run before examples, and examples cannot start a server.
var exampleURL string

func TestExampleSetup(t *testing.T) { exampleURL = testenv.RedisURL(t) }

// 2,000 requests per hour per API key shared by every instance, with a
// local per-instance limit standing in while Redis is unreachable.
func ExampleNew() {
	opt, err := redis.ParseURL(exampleURL)
	if err != nil {
		fmt.Println("run with go test, which starts redis-server:", err)
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	// The backend returns a driver; ratelimit.New wraps it with the
	// failure policy and a local per-instance limit (memrate's one-liner)
	// that stands in while Redis is unreachable.
	d, err := redisrate.New(rdb,
		ratelimit.Limit{Rate: 2000, Period: time.Hour, Burst: 100}, // GCRA (the zero Algorithm)
		&redisrate.Options{
			Prefix:  "example:api:",
			Timeout: time.Second, // budget per decision, go-redis retries included (default 250ms)
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	local, _ := memrate.New(ratelimit.Limit{Rate: 500, Period: time.Hour, Burst: 25}, nil)
	lim, err := ratelimit.New(d, &ratelimit.Options{Fallback: local, Failure: ratelimit.FailClosed})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	dec, err := lim.Allow(ctx, "key-123", 1)
	fmt.Println(dec.Allowed, dec.Limit, dec.Remaining, err)
	_ = rdb.Del(ctx, "example:api:key-123")
	// Output:
	// true 100 99 <nil>
}
