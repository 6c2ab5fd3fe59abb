package pgshard_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/driver"
	"github.com/scalekit-go/scalekit/shard/pgshard"
	"github.com/scalekit-go/scalekit/shard/shardtest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func openDriver(t testing.TB, url string) *pgshard.Driver {
	t.Helper()
	d, err := pgshard.Open(context.Background(), newPool(t, url), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	shardtest.Run(t, func(t *testing.T) shardtest.Harness {
		url := testenv.PostgresURL(t)
		return shardtest.Harness{
			NewStore:     func(t *testing.T) driver.MapStore { return openDriver(t, url) },
			NewDirectory: func(t *testing.T) driver.Directory { return openDriver(t, url) },
		}
	})
}

// TestRouterSurvivesListenConnectionLoss kills the LISTEN connection of a
// running router; it must still converge on a new map version (by
// re-opening the watch or by polling).
func TestRouterSurvivesListenConnectionLoss(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := testenv.PostgresURL(t)
	d := openDriver(t, url)
	r, _ := shard.NewRouter(d, "m", &shard.RouterOptions{PollInterval: 100 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	admin := newPool(t, url)
	waitFor(t, "router listening", func() bool {
		var n int
		_ = admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND datname = current_database()`).Scan(&n)
		return n > 0
	})
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	pub, _ := shard.NewRouter(openDriver(t, url), "m", nil)
	m, _ := shard.Spread(4, []string{"a"})
	if err := pub.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "router converges after losing LISTEN", func() bool { return r.Version() == 1 })
}
