package pgidgen_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/idgen/pgidgen"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

// Twenty processes starting at once each create the table: CREATE TABLE IF
// NOT EXISTS alone races in the catalog (SQLSTATE 23505 for most of them),
// so creation must be serialised by an advisory lock. Each "process" here
// has its own connection (its own backend), started together.
func TestCreateTableConcurrently(t *testing.T) {
	url := testenv.PostgresURL(t)
	ctx := context.Background()
	const n = 20
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		conns[i] = c
	}
	for round := range 3 {
		table := fmt.Sprintf("ids_%d", round)
		start := make(chan struct{})
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := pgidgen.Open(ctx, c, &pgidgen.Options{Table: table})
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			if err != nil {
				failed++
				t.Log(err)
			}
		}
		if failed > 0 {
			t.Fatalf("round %d: %d of %d concurrent creations failed", round, failed, n)
		}
	}
}
