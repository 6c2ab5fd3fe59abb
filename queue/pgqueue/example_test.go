package pgqueue_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/pgqueue"
)

// exampleURL is the "postgres" database of the test binary's server,
// recorded by TestExampleSetup (tests run before examples, and examples
// cannot start a server).
var exampleURL string

func TestExampleSetup(t *testing.T) {
	u, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	exampleURL = u.String()
}

// A queue on PostgreSQL: publish in one transaction, receive with SKIP
// LOCKED, ack.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, exampleURL)
	if err != nil {
		fmt.Println("run with go test, which starts PostgreSQL:", err)
		return
	}
	defer pool.Close()
	d, err := pgqueue.Open(ctx, pool, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	q, _ := queue.New(d, nil)
	sub, _ := q.Subscribe(ctx, "example-emails", "sender", nil)
	_, _ = q.Publish(ctx, "example-emails", queue.Message{Body: []byte("welcome, ada"), Key: "ada"})
	m, err := sub.Receive(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(m.Body), m.Key, m.Deliveries)
	fmt.Println(m.Ack(ctx))
	// Output:
	// welcome, ada ada 1
	// <nil>
}
