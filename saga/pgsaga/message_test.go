package pgsaga_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/outbox"
	"github.com/scalekit-go/scalekit/saga/pgsaga"
)

// A message is relayed if and only if the business transaction commits:
// a failing work function leaves neither the row nor a message behind.
func TestPublishOnCommitIfAndOnlyIfCommitted(t *testing.T) {
	ctx := context.Background()
	p := pool(t, testenv.PostgresURL(t))
	if err := outbox.Open(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx, `CREATE TABLE orders (id text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	q, err := queue.NewInMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	sub, err := q.Subscribe(ctx, "order-events", "billing", nil)
	if err != nil {
		t.Fatal(err)
	}
	insert := func(id string, fail error) func(context.Context, pgx.Tx) error {
		return func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO orders VALUES ($1)`, id); err != nil {
				return err
			}
			return fail
		}
	}
	boom := errors.New("payment declined")
	if err := pgsaga.PublishOnCommit(ctx, p, "order-events", []queue.Message{{Body: []byte("o-1 created")}}, insert("o-1", nil)); err != nil {
		t.Fatal(err)
	}
	if err := pgsaga.PublishOnCommit(ctx, p, "order-events", []queue.Message{{Body: []byte("o-2 created")}}, insert("o-2", boom)); !errors.Is(err, boom) {
		t.Fatalf("failing work: err = %v, want %v", err, boom)
	}
	// A duplicate key fails inside work too: no message for it either.
	if err := pgsaga.PublishOnCommit(ctx, p, "order-events", []queue.Message{{Body: []byte("o-1 again")}}, insert("o-1", nil)); err == nil {
		t.Fatal("duplicate order committed")
	}
	r, err := outbox.NewRelay(p, q, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.RelayOnce(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RelayOnce = %d, %v; want exactly the committed message", n, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := sub.Receive(rctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Body) != "o-1 created" {
		t.Fatalf("received %q, want \"o-1 created\"", d.Body)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := sub.Stats(ctx); err != nil || st.Backlog != 0 {
		t.Fatalf("backlog after the one committed message = %+v, %v; want 0", st, err)
	}
	var orders int
	if err := p.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&orders); err != nil || orders != 1 {
		t.Fatalf("orders = %d, %v; want 1", orders, err)
	}
	if err := pgsaga.PublishOnCommit(ctx, p, "order-events", nil, insert("o-3", nil)); err == nil {
		t.Fatal("no messages accepted")
	}
	if err := pgsaga.PublishOnCommit(ctx, p, "order-events", []queue.Message{{}}, nil); err == nil {
		t.Fatal("nil work accepted")
	}
}
