package memrate_test

import (
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
)

// AllowAt decides at a given time, so the behaviour of an algorithm can be
// traced without sleeping: a fixed window of 2 per second admits 2 at the
// end of one window and 2 more at the start of the next, which a sliding
// log never does.
func ExampleDriver_AllowAt() {
	for _, alg := range []ratelimit.Algorithm{ratelimit.FixedWindow, ratelimit.SlidingLog} {
		d, err := memrate.NewDriver(ratelimit.Limit{Algorithm: alg, Rate: 2, Period: time.Second}, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		t0 := time.Unix(1_700_000_000, 0)
		admitted := 0
		for _, at := range []time.Duration{900, 950, 1000, 1050} { // ms
			if d.AllowAt(t0.Add(at*time.Millisecond), "k", 1).Allowed {
				admitted++
			}
		}
		fmt.Printf("%v: %d admitted within 150ms\n", alg, admitted)
	}
	// Output:
	// fixed_window: 4 admitted within 150ms
	// sliding_log: 2 admitted within 150ms
}
