package dedupstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/dedupstore"
	"github.com/scalekit-go/scalekit/queue/queuetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestRedis(t *testing.T) {
	c := testenv.RedisClient(t)
	queuetest.RunDedupStore(t, func(t *testing.T) queue.DedupStore {
		s, err := dedupstore.NewRedis(c, "")
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestPostgres(t *testing.T) {
	p, err := pgxpool.New(context.Background(), testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	s, err := dedupstore.OpenPostgres(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	queuetest.RunDedupStore(t, func(*testing.T) queue.DedupStore { return s })
}

func TestMemory(t *testing.T) {
	s := queue.NewMemoryDedup(nil)
	queuetest.RunDedupStore(t, func(*testing.T) queue.DedupStore { return s })
}

func TestBadInput(t *testing.T) {
	if _, err := dedupstore.NewRedis(nil, ""); err == nil {
		t.Error("NewRedis(nil) did not fail")
	}
	if _, err := dedupstore.OpenPostgres(context.Background(), nil); err == nil {
		t.Error("OpenPostgres(nil) did not fail")
	}
}
