package memshard_test

import (
	"context"
	"fmt"

	"github.com/scalekit-go/scalekit/shard"
	"github.com/scalekit-go/scalekit/shard/memshard"
)

// A directory and a two-level map in memory.
func Example() {
	ctx := context.Background()
	store := memshard.New()

	dir, _ := shard.NewDirectory(store, "accounts", nil)
	v, _ := dir.Assign(ctx, "acct:42", "db-eu", 0)
	node, _, _ := dir.Lookup(ctx, "acct:42")
	fmt.Println(node, v)

	r, _ := shard.NewRouter(store, "users", nil)
	m, _ := shard.Spread(8, []string{"db0", "db1"})
	_ = r.Publish(ctx, m)
	grown, _ := m.Rebalance([]string{"db0", "db1", "db2"})
	plan, _ := shard.PlanMoves(m, grown)
	_ = r.Publish(ctx, grown)
	fmt.Println(r.Version(), len(plan.Moves), plan.Fraction)
	// Output:
	// db-eu 1
	// 2 2 0.25
}
