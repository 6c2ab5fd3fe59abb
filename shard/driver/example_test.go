package driver_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalekit-go/scalekit/shard/driver"
	"github.com/scalekit-go/scalekit/shard/memshard"
)

// The MapStore contract: compare-and-swap on versions.
func Example() {
	var s driver.MapStore = memshard.New()
	ctx := context.Background()
	fmt.Println(s.CompareAndSwap(ctx, "m", 0, driver.Table{Version: 1, Nodes: []string{"a"}}))
	err := s.CompareAndSwap(ctx, "m", 0, driver.Table{Version: 1, Nodes: []string{"b"}})
	fmt.Println(errors.Is(err, driver.ErrConflict))
	// Output:
	// <nil>
	// true
}
