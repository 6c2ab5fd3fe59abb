package pgshard_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
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
