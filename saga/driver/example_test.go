package driver_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalekit-go/scalekit/saga/driver"
	"github.com/scalekit-go/scalekit/saga/memsaga"
)

// The fencing rule every Log enforces: a write carrying an older token
// than the stored one is refused.
func Example() {
	var log driver.Log = memsaga.New(nil)
	ctx := context.Background()
	rec := driver.Record{ID: "s1", Name: "transfer", Data: []byte(`{}`), State: driver.Running, Fence: 7,
		Steps: []driver.Step{{Name: "debit", Status: driver.StepStarted}}}
	fmt.Println(log.Create(ctx, rec))
	rec.Fence, rec.State = 6, driver.Completed // a stale owner
	fmt.Println(errors.Is(log.Update(ctx, rec), driver.ErrFenced))
	rec.Fence = 8 // the new owner
	fmt.Println(log.Update(ctx, rec))
	got, _ := log.Get(ctx, "s1")
	fmt.Println(got.State, got.Fence, got.State.Terminal())
	// Output:
	// <nil>
	// true
	// <nil>
	// completed 8 true
}
