package memlock_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/memlock"
)

// memlock stands in for a real engine in tests, including its failures.
func Example() {
	ctx := context.Background()
	m := memlock.New(nil)
	lk, err := lock.New(m, nil)
	if err != nil {
		panic(err)
	}
	l, err := lk.TryAcquire(ctx, "report", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("token", l.Token())

	// The engine drops the key behind the holder's back (an eviction, a
	// failover): a later Release finds the lease is no longer held.
	m.Expire("report")
	fmt.Println(errors.Is(l.Release(ctx), lock.ErrNotHeld))

	// The next holder gets a larger fencing token.
	l2, _ := lk.TryAcquire(ctx, "report", nil)
	fmt.Println("token", l2.Token())
	_ = l2.Release(ctx)
	// Output:
	// token 1
	// true
	// token 2
}
