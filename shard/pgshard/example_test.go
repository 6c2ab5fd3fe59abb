package pgshard_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/pgshard"
)

// exampleURL is the "postgres" database of the test binary's server,
// recorded by TestExampleSetup: tests run before examples, and examples
// cannot start a server.
var exampleURL string

func TestExampleSetup(t *testing.T) {
	u, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	exampleURL = u.String()
}

// Two routers share a map stored in PostgreSQL.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, exampleURL)
	if err != nil {
		fmt.Println("run with go test, which starts PostgreSQL:", err)
		return
	}
	defer pool.Close()
	d, err := pgshard.Open(ctx, pool, &pgshard.Options{Prefix: "example_shard"})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = pool.Exec(ctx, `DELETE FROM example_shard_map`)
	a, _ := shard.NewRouter(d, "users", nil)
	b, _ := shard.NewRouter(d, "users", nil)
	m, _ := shard.Spread(16, []string{"db0", "db1"})
	fmt.Println(a.Publish(ctx, m))
	_ = b.Sync(ctx)
	_, na, _ := a.Lookup("user:7")
	_, nb, _ := b.Lookup("user:7")
	fmt.Println(b.Version(), na == nb)
	// Output:
	// <nil>
	// 1 true
}
