package idgentest_test

import (
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/idgen/driver"
	"github.com/scalekit-go/scalekit/idgen/idgentest"
	"github.com/scalekit-go/scalekit/idgen/memidgen"
)

// A backend's test file runs both suites against its engine. Here the
// memory backend, whose node-id driver runs on a fake clock.
func Example() {
	_ = func(t *testing.T) {
		idgentest.RunSegmentSource(t, func(t *testing.T) driver.SegmentSource { return memidgen.NewSource() })

		clk := clock.NewFake(time.Now())
		nodes := memidgen.NewNodeIDs(clk)
		idgentest.RunNodeIDs(t, idgentest.NodeHarness{
			New:  func(t *testing.T) driver.NodeIDs { return nodes },
			TTL:  time.Second,
			Wait: func(t *testing.T, d time.Duration) { clk.Advance(d) },
		})
	}
}
