package locktest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
)

// grantAll is a broken backend that grants every acquisition.
type grantAll struct{ tok atomic.Int64 }

func (g *grantAll) TryAcquire(context.Context, driver.Request) (int64, error) {
	return g.tok.Add(1), nil
}
func (g *grantAll) Renew(context.Context, string, string, time.Duration) error { return nil }
func (g *grantAll) Release(context.Context, string, string) error              { return nil }
func (g *grantAll) Holder(context.Context, string) (driver.Holder, bool, error) {
	return driver.Holder{}, false, nil
}

// The mutual-exclusion check must catch a lock that excludes nobody.
func TestContendCatchesBrokenLock(t *testing.T) {
	lk, err := lock.New(&grantAll{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Overlap needs the scheduler to interleave the goroutines inside the
	// critical section, which it may not do in one short run on a busy
	// machine; the broken lock must be caught within a few runs.
	for run := 1; run <= 10; run++ {
		var hs History
		errs := contend(lk, "k", "g", 6, 30, &hs)
		if len(errs) > 0 || hs.Check() != nil {
			t.Logf("caught in run %d: %d in-process overlaps; history: %v", run, len(errs), hs.Check())
			return
		}
	}
	t.Fatal("six goroutines all granted the same lock in 10 runs, and neither the in-process check nor the history checker noticed")
}
