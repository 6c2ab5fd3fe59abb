package memidgen_test

import (
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/idgen/driver"
	"github.com/scalekit-go/scalekit/idgen/idgentest"
	"github.com/scalekit-go/scalekit/idgen/memidgen"
)

func TestSourceConformance(t *testing.T) {
	src := memidgen.NewSource()
	idgentest.RunSegmentSource(t, func(*testing.T) driver.SegmentSource { return src })
}

func TestNodeIDsConformance(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	d := memidgen.NewNodeIDs(fc)
	idgentest.RunNodeIDs(t, idgentest.NodeHarness{
		New:  func(*testing.T) driver.NodeIDs { return d },
		TTL:  time.Minute,
		Wait: func(_ *testing.T, d time.Duration) { fc.Advance(d) },
	})
}
