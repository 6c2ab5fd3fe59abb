package lock_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/memlock"
)

func Example() {
	ctx := context.Background()
	lk, err := lock.New(memlock.New(nil), nil)
	if err != nil {
		panic(err)
	}
	lease, err := lk.Acquire(ctx, "reports/nightly", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("held", lease.Key(), "token", lease.Token())

	// A second holder is refused while the lease lives.
	_, err = lk.TryAcquire(ctx, "reports/nightly", nil)
	fmt.Println("second holder locked out:", errors.Is(err, lock.ErrLocked))

	if err := lease.Release(ctx); err != nil {
		panic(err)
	}
	<-lease.Done()
	fmt.Println("released:", errors.Is(lease.Err(), lock.ErrReleased))

	next, _ := lk.TryAcquire(ctx, "reports/nightly", nil)
	fmt.Println("next token", next.Token())
	_ = next.Release(ctx)
	// Output:
	// held reports/nightly token 1
	// second holder locked out: true
	// released: true
	// next token 2
}
