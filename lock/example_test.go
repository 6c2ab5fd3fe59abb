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

func ExampleElection() {
	ctx := context.Background()
	lk, _ := lock.New(memlock.New(nil), nil)
	a, _ := lock.NewElection(lk, "scheduler/leader", nil)
	b, _ := lock.NewElection(lk, "scheduler/leader", nil)

	term, err := a.Campaign(ctx, "10.0.0.1:8080")
	if err != nil {
		panic(err)
	}
	leader, _, _ := b.Leader(ctx)
	fmt.Println("leader", leader.Meta, "term", leader.Token)

	_ = a.Resign(ctx)
	<-term.Done() // leadership ends with the lease: lost or, here, released
	fmt.Println("a stepped down:", errors.Is(term.Err(), lock.ErrReleased))

	term2, _ := b.Campaign(ctx, "10.0.0.2:8080")
	leader, _, _ = a.Leader(ctx)
	fmt.Println("leader", leader.Meta, "term", term2.Token())
	_ = b.Resign(ctx)
	// Output:
	// leader 10.0.0.1:8080 term 1
	// a stepped down: true
	// leader 10.0.0.2:8080 term 2
}
