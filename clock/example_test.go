package clock_test

import (
	"context"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/clock"
)

// A test drives time with a Fake: the code under test parks on a timer,
// BlockUntil waits until it has, and Advance fires it without sleeping.
func ExampleFake() {
	fc := clock.NewFake(time.Time{})
	done := make(chan time.Duration)
	go func() {
		start := fc.Now()
		_ = clock.Sleep(context.Background(), fc, 30*time.Second)
		done <- fc.Since(start)
	}()
	if err := fc.BlockUntil(context.Background(), 1); err != nil {
		panic(err)
	}
	fc.Advance(30 * time.Second)
	fmt.Println(<-done)
	// Output: 30s
}
