package pgsaga_test

import (
	"context"
	"sync"
	"testing"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/saga/pgsaga"
)

// TestOpenConcurrently starts many Opens at once against an empty
// database: the advisory lock must keep them from colliding on the
// catalog.
func TestOpenConcurrently(t *testing.T) {
	p := pool(t, testenv.PostgresURL(t))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := pgsaga.Open(context.Background(), p, nil); err != nil {
				errs <- err
			}
			if _, err := pgsaga.OpenBarrier(context.Background(), p, nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := pgsaga.New(nil, nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
	p := pool(t, testenv.PostgresURL(t))
	for _, name := range []string{"a.b.c", ".x", "x."} {
		if _, err := pgsaga.New(p, &pgsaga.Options{SagaTable: name}); err == nil {
			t.Fatalf("New with table %q succeeded", name)
		}
	}
}
