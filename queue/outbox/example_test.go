package outbox_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/outbox"
)

var exampleURL string

// TestExampleSetup records a database for the example (tests run first).
func TestExampleSetup(t *testing.T) {
	u, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	exampleURL = u.String()
}

// Write a message in the same transaction as the business change; the
// relay publishes it once the transaction has committed.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, exampleURL)
	if err != nil {
		fmt.Println("run with go test, which starts PostgreSQL:", err)
		return
	}
	defer pool.Close()
	if err := outbox.Open(ctx, pool); err != nil {
		fmt.Println(err)
		return
	}
	q, _ := queue.NewInMemory(nil)
	sub, _ := q.Subscribe(ctx, "order-events", "audit", nil)

	tx, _ := pool.Begin(ctx)
	// ... INSERT INTO orders ... in tx ...
	_ = outbox.Write(ctx, tx, "order-events", queue.Message{Key: "order-42", Body: []byte("created")})
	_ = tx.Commit(ctx)

	relay, _ := outbox.NewRelay(pool, q, nil, nil) // Run(ctx) with an election in production
	n, err := relay.RelayOnce(ctx)
	fmt.Println(n, err)
	d, _ := sub.Receive(ctx)
	fmt.Println(d.Key, string(d.Body))
	// Output:
	// 1 <nil>
	// order-42 created
}
