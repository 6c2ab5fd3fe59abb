package memrate_test

import (
	"sync"
	"testing"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/driver"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
	"github.com/scalekit-go/scalekit/ratelimit/ratelimittest"
)

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	spaces := map[string]*memrate.Driver{}
	ratelimittest.Run(t, ratelimittest.Harness{
		Steps: 10_000, // in-process decisions are cheap: a longer run
		New: func(t *testing.T, lim ratelimit.Limit, clk clock.Clock, space string) (driver.Limiter, error) {
			mu.Lock()
			defer mu.Unlock()
			// Instances "sharing" one in-process space are the same driver.
			if d := spaces[space]; d != nil {
				return d, nil
			}
			o := &memrate.Options{Clock: clk}
			if _, fake := clk.(*clock.Fake); !fake {
				o.Clock = nil // RealTime: the driver's own monotonic time source
			}
			d, err := memrate.NewDriver(lim, o)
			if err != nil {
				return nil, err
			}
			spaces[space] = d
			return d, nil
		},
	})
}
