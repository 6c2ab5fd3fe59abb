package pgqueue_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/pgqueue"
	"github.com/scalekit-go/scalekit/queue/queuetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// envURL carries the database URL to the child processes of the suite.
const envURL = "SCALEKIT_PGQUEUE_TEST_URL"

func dbURL(t *testing.T) string {
	if u := os.Getenv(envURL); u != "" && testenv.ChildRole() != "" {
		return u
	}
	return testenv.PostgresURL(t)
}

func pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func open(t testing.TB, url string, o *pgqueue.Options) *pgqueue.Driver {
	t.Helper()
	d, err := pgqueue.Open(context.Background(), pool(t, url), o)
	if err != nil {
		t.Fatalf("pgqueue.Open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// TestConformance runs queuetest on a fresh database with LISTEN/NOTIFY
// wake-ups, and with child processes for the SIGKILL test.
func TestConformance(t *testing.T) {
	url := dbURL(t)
	queuetest.Run(t, queuetest.Harness{
		New:        func(t *testing.T) driver.Queue { return open(t, url, nil) },
		Visibility: 2 * time.Second, // 1s leases lapsed under -race on a loaded 2-core CI machine
		ChildEnv:   func(*testing.T) []string { return []string{envURL + "=" + url} },
	})
}

// TestConformancePollOnly runs queuetest with notifications off, as behind
// PgBouncer in transaction mode.
func TestConformancePollOnly(t *testing.T) {
	if testenv.ChildRole() != "" {
		return
	}
	url := dbURL(t)
	queuetest.Run(t, queuetest.Harness{
		New:        func(t *testing.T) driver.Queue { return open(t, url, &pgqueue.Options{PollOnly: true}) },
		Visibility: 2 * time.Second,
	})
}
