package pgsaga_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	lockdriver "github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/pglock"
	"github.com/scalekit-go/scalekit/saga/pgsaga"
	"github.com/scalekit-go/scalekit/saga/sagatest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// pool opens a pool on url, closed when t ends.
func pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestConformance runs sagatest against real PostgreSQL: a fresh database
// per sub-test, holding both the saga log and the pglock lease table.
func TestConformance(t *testing.T) {
	var cur *pgxpool.Pool
	sagatest.Run(t, sagatest.Harness{
		New: func(t *testing.T) sagatest.Backend {
			cur = pool(t, testenv.PostgresURL(t))
			l, err := pgsaga.Open(context.Background(), cur, nil)
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		Locker: func(t *testing.T) lockdriver.Locker {
			d, err := pglock.Open(context.Background(), cur, nil)
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
	})
}
