package memidgen_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/memidgen"
)

func ExampleSource() {
	ctx := context.Background()
	src := memidgen.NewSource()
	a, _ := src.NextBlock(ctx, "orders", 100)
	b, _ := src.NextBlock(ctx, "orders", 100)
	fmt.Println(a, b)

	// Fault injection: the next fetch fails, a Segment retries it.
	src.FailNext(1, errors.New("connection reset"))
	_, err := src.NextBlock(ctx, "orders", 100)
	fmt.Println(err)
	// Output:
	// 1 101
	// connection reset
}

func ExampleNodeIDs() {
	ctx := context.Background()
	nodes := memidgen.NewNodeIDs(nil)
	a, _ := idgen.AcquireNode(ctx, nodes, "api", 1, nil)
	b, _ := idgen.AcquireNode(ctx, nodes, "api", 1, nil)
	_, err := idgen.AcquireNode(ctx, nodes, "api", 1, nil) // ids 0 and 1 are taken
	fmt.Println(a.ID(), b.ID(), err != nil)
	// Output:
	// 0 1 true
}
