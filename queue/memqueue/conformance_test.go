package memqueue_test

import (
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/memqueue"
	"github.com/scalekit-go/scalekit/queue/queuetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestConformance(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	m := memqueue.New(&memqueue.Options{Clock: fc})
	queuetest.Run(t, queuetest.Harness{
		New:        func(*testing.T) driver.Queue { return m },
		Clock:      fc,
		Visibility: time.Second,
	})
}

func TestConformanceRealClock(t *testing.T) {
	m := memqueue.New(nil)
	queuetest.Run(t, queuetest.Harness{
		New:        func(*testing.T) driver.Queue { return m },
		Visibility: time.Second, // 300ms let a GC or scheduling stall under -race lapse a lease
	})
}
