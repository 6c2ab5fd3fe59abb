package driver_test

import (
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/ratelimit/driver"
)

func ExampleLimit() {
	l := driver.Limit{Algorithm: driver.GCRA, Rate: 100, Period: time.Minute, Burst: 10}
	fmt.Println(l.Algorithm, l.Capacity(), l.Interval())
	w := driver.Limit{Algorithm: driver.SlidingWindow, Rate: 2000, Period: time.Hour}
	fmt.Println(w.Algorithm, w.Capacity(), w.Interval())
	// Output:
	// gcra 10 600ms
	// sliding_window 2000 1.8s
}
