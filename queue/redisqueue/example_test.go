package redisqueue_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/redisqueue"
)

// exampleURL is the test binary's Redis, recorded by TestExampleSetup:
// tests run before examples, and examples cannot start a server.
var exampleURL string

func TestExampleSetup(t *testing.T) { exampleURL = testenv.RedisURL(t) }

// Example publishes a message to a topic on Redis and receives it from a
// subscription.
func Example() {
	opt, err := redis.ParseURL(exampleURL)
	if err != nil {
		fmt.Println("run with go test, which starts redis-server:", err)
		return
	}
	client := redis.NewClient(opt)
	defer client.Close()

	d, err := redisqueue.New(client, &redisqueue.Options{Prefix: "example:"})
	if err != nil {
		fmt.Println(err)
		return
	}
	q, err := queue.New(d, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	ctx := context.Background()
	sub, err := q.Subscribe(ctx, "orders", "billing", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := q.Publish(ctx, "orders", queue.Message{Body: []byte("order 42"), Key: "customer-7"}); err != nil {
		fmt.Println(err)
		return
	}
	m, err := sub.Receive(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(m.Body), m.Deliveries)
	_ = m.Ack(ctx)
	client.Del(ctx, "example:{orders}:subs")
	// Output: order 42 1
}
