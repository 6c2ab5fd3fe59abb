package locktest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/locktest"
	"github.com/scalekit-go/scalekit/lock/memlock"
)

// A backend's conformance test: hand the suite a way to reach the engine
// and the faults it can inject. Real engines leave Clock nil and use short
// real TTLs; see redislock and pglock for Restart and ChildEnv.
func Example() {
	_ = func(t *testing.T) {
		fc := clock.NewFake(time.Time{})
		m := memlock.New(&memlock.Options{Clock: fc})
		locktest.Run(t, locktest.Harness{
			New:                  func(*testing.T) driver.Locker { return m },
			Clock:                fc,
			TTL:                  time.Second,
			Restart:              func(*testing.T) { m.Restart() },
			TokensSurviveRestart: true,
			DropKey:              func(_ *testing.T, k string) { m.Expire(k) },
		})
	}
}

// CheckHolds fails a history in which two holders overlap.
func ExampleCheckHolds() {
	err := locktest.CheckHolds([]locktest.Hold{
		{Holder: "a", Token: 1, Start: 0, End: 20},
		{Holder: "b", Token: 2, Start: 10, End: 30},
	})
	fmt.Println(err != nil)
	err = locktest.CheckHolds([]locktest.Hold{
		{Holder: "a", Token: 1, Start: 0, End: 10},
		{Holder: "b", Token: 2, Start: 10, End: 30},
	})
	fmt.Println(err)
	// Output:
	// true
	// <nil>
}
