package memsaga_test

import (
	"context"
	"fmt"

	"github.com/scalekit-go/scalekit/saga/driver"
	"github.com/scalekit-go/scalekit/saga/memsaga"
)

// The first decision recorded for a 2PC transaction wins.
func Example() {
	log := memsaga.New(nil)
	ctx := context.Background()
	_ = log.Begin(ctx, driver.Tx{ID: "t1", Participants: []string{"a", "b"}})
	d1, _ := log.Decide(ctx, "t1", driver.Abort)  // a recovery presumes abort
	d2, _ := log.Decide(ctx, "t1", driver.Commit) // the late coordinator
	fmt.Println(d1, d2, log.Writes())
	// Output:
	// abort abort 2
}
