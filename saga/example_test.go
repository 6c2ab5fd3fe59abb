package saga_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/memsaga"
)

type booking struct {
	Trip string
}

// A three-step saga whose last step fails: the steps that ran are
// compensated in reverse order, the failed one included.
func Example() {
	o, err := saga.NewInMemory(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	step := func(name string, fail bool) saga.Step[booking] {
		return saga.Step[booking]{
			Name: name,
			Action: func(ctx context.Context, c saga.Call, b booking) error {
				fmt.Println("book", name, "for", b.Trip)
				if fail {
					return saga.Permanent(errors.New("no seats"))
				}
				return nil
			},
			Compensate: func(ctx context.Context, c saga.Call, b booking) error {
				fmt.Println("cancel", name)
				return nil
			},
		}
	}
	trip, err := saga.Register(o, "trip", []saga.Step[booking]{
		step("hotel", false), step("car", false), step("flight", true),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = trip.Run(context.Background(), "trip-42", booking{Trip: "Lisbon"})
	fmt.Println(errors.Is(err, saga.ErrCompensated))
	st, _ := o.Status(context.Background(), "trip-42")
	fmt.Println(st.State, st.Error)
	// Output:
	// book hotel for Lisbon
	// book car for Lisbon
	// book flight for Lisbon
	// cancel flight
	// cancel car
	// cancel hotel
	// true
	// compensated step "flight" failed after 1 attempt(s): no seats
}

// Parallel branches that join: "pay" and "reserve" run at once after
// "order"; "ship" waits for both.
func ExampleRegister_dag() {
	o, _ := saga.NewInMemory(nil)
	nop := func(context.Context, saga.Call, booking) error { return nil }
	_, err := saga.Register(o, "shop", []saga.Step[booking]{
		{Name: "order", Action: nop},
		{Name: "pay", After: []string{"order"}, Action: nop},
		{Name: "reserve", After: []string{"order"}, Action: nop},
		{Name: "ship", After: []string{"pay", "reserve"}, Action: nop},
	})
	fmt.Println(err)
	_, err = saga.Register(o, "loop", []saga.Step[booking]{
		{Name: "a", After: []string{"b"}, Action: nop},
		{Name: "b", After: []string{"a"}, Action: nop},
	})
	fmt.Println(errors.Is(err, saga.ErrCycle))
	// Output:
	// <nil>
	// true
}

// A TCC transaction: every participant tries, then all confirm.
func ExampleCoordinator_Do() {
	c, err := saga.NewCoordinator(memsaga.New(nil), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	part := func(name string) saga.TCC {
		return saga.TCC{
			Resource: name,
			Try:      func(ctx context.Context, tx string) error { fmt.Println("try", name); return nil },
			Confirm:  func(ctx context.Context, tx string) error { fmt.Println("confirm", name); return nil },
			Cancel:   func(ctx context.Context, tx string) error { fmt.Println("cancel", name); return nil },
		}
	}
	// Participants prepare in parallel; run them one at a time here so
	// the output is stable.
	err = c.Do(context.Background(), "tx-1", part("inventory"))
	fmt.Println(err)
	// Output:
	// try inventory
	// confirm inventory
	// <nil>
}
