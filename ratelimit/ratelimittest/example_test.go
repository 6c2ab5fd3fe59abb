package ratelimittest_test

import (
	"fmt"
	"testing"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/driver"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
	"github.com/scalekit-go/scalekit/ratelimit/ratelimittest"
)

// A backend's conformance test: instances created with the same space must
// share state, and the backend must decide on the clock it is given.
func ExampleRun() {
	spaces := map[string]*memrate.Driver{}
	h := ratelimittest.Harness{
		New: func(t *testing.T, lim ratelimit.Limit, clk clock.Clock, space string) (driver.Limiter, error) {
			if d := spaces[space]; d != nil {
				return d, nil
			}
			d, err := memrate.NewDriver(lim, &memrate.Options{Clock: clk})
			if err == nil {
				spaces[space] = d
			}
			return d, err
		},
	}
	_ = func(t *testing.T) { ratelimittest.Run(t, h) } // in TestConformance(t)
	for _, alg := range ratelimittest.AllAlgorithms {
		fmt.Println(alg)
	}
	// Output:
	// token_bucket
	// leaky_bucket
	// fixed_window
	// sliding_log
	// sliding_window
	// gcra
}
