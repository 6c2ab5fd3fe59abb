package locknodes_test

import (
	"context"
	"fmt"

	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/locknodes"
	"github.com/scalekit-go/scalekit/lock/memlock"
)

// Two generators lease distinct node ids from one lock backend.
func Example() {
	ctx := context.Background()
	nodes, err := locknodes.New(memlock.New(nil), nil)
	if err != nil {
		panic(err)
	}
	a, _ := idgen.AcquireNode(ctx, nodes, "orders", 1, nil)
	b, _ := idgen.AcquireNode(ctx, nodes, "orders", 1, nil)
	fmt.Println("distinct node ids:", a.ID() != b.ID())
	_, err = idgen.AcquireNode(ctx, nodes, "orders", 1, nil)
	fmt.Println(err)
	_ = a.Release(ctx)
	_ = b.Release(ctx)
	// Output:
	// distinct node ids: true
	// idgen: acquire node id in "orders": locknodes: "orders", ids 0..1: idgen: no free node id
}
