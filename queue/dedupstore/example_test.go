package dedupstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/dedupstore"
)

// Claims on a shared store: the first claimer of a message id wins, and
// once it is done every later delivery is acked without running again.
// (The store is in memory here; dedupstore.NewRedis and OpenPostgres give
// the same behaviour across processes.)
func Example() {
	ctx := context.Background()
	var st queue.DedupStore = queue.NewMemoryDedup(nil)
	c1, _ := st.Claim(ctx, "orders/billing/msg-1", time.Minute)
	c2, _ := st.Claim(ctx, "orders/billing/msg-1", time.Minute)
	_ = st.Done(ctx, "orders/billing/msg-1", 24*time.Hour)
	c3, _ := st.Claim(ctx, "orders/billing/msg-1", time.Minute)
	fmt.Println(c1 == queue.ClaimNew, c2 == queue.ClaimBusy, c3 == queue.ClaimDone)

	_, err := dedupstore.NewRedis(nil, "")
	fmt.Println(err)
	// Output:
	// true true true
	// dedupstore: NewRedis with a nil client
}
