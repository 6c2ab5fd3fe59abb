package pglock_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/locktest"
)

// envURL carries the database URL to the child processes of the suite.
const envURL = "SCALEKIT_PGLOCK_TEST_URL"

// TestConformance runs locktest against a PostgreSQL server of its own
// (the restart test stops and starts it), with child processes for the
// multi-process and paused-holder tests.
func TestConformance(t *testing.T) {
	url := os.Getenv(envURL)
	var srv *testenv.Server
	if testenv.ChildRole() == "" {
		srv = testenv.NewPostgres(t)
		url = srv.URL
	}
	admin := pool(t, url)
	locktest.Run(t, locktest.Harness{
		New: func(t *testing.T) driver.Locker { return open(t, url, nil) },
		// Longer than the default 500ms: the timing tests must hold on a
		// loaded 2-core machine.
		TTL: time.Second,
		Restart: func(t *testing.T) {
			// A graceful stop waits for clients: end every session first
			// (the pools reconnect on their next call).
			terminateOthers(t, url)
			admin.Reset()
			srv.Restart(t)
		},
		TokensSurviveRestart: true,
		DropKey: func(t *testing.T, key string) {
			if _, err := admin.Exec(context.Background(), "DELETE FROM scalekit_locks WHERE key = $1", key); err != nil {
				t.Fatal(err)
			}
		},
		ChildEnv: func(*testing.T) []string { return []string{envURL + "=" + url} },
		Resource: func(t *testing.T, name string) locktest.Resource { return newFencedRow(t, admin, name) },
	})
}

func terminateOthers(t *testing.T, url string) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"); err != nil {
		t.Fatal(err)
	}
}

// fencedRow is a row of a table written through lock.SQLFence: the
// UPDATE's WHERE clause admits only a token at least as large as the
// row's, atomically with the write.
type fencedRow struct {
	db   *pgxpool.Pool
	name string
}

var rowFence = lock.SQLFence{Table: "fenced"}

func newFencedRow(t *testing.T, db *pgxpool.Pool, name string) *fencedRow {
	t.Helper()
	// Called in the child process too: create once, never reset.
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS fenced (name text PRIMARY KEY, value text NOT NULL, fence_token bigint NOT NULL DEFAULT 0)",
		"INSERT INTO fenced (name, value) VALUES ($1, '') ON CONFLICT (name) DO NOTHING",
	} {
		args := []any{name}
		if !strings.Contains(q, "$1") {
			args = nil
		}
		if _, err := db.Exec(context.Background(), q, args...); err != nil {
			t.Fatal(err)
		}
	}
	return &fencedRow{db: db, name: name}
}

func (r *fencedRow) Write(ctx context.Context, token int64, value string) error {
	tag, err := r.db.Exec(ctx, rowFence.Update("value = $2", "name = $3"), token, value, r.name)
	return rowFence.Result(token, tag.RowsAffected(), err)
}

func (r *fencedRow) Read(ctx context.Context) (string, error) {
	var v string
	err := r.db.QueryRow(ctx, "SELECT value FROM fenced WHERE name = $1", r.name).Scan(&v)
	return v, err
}
