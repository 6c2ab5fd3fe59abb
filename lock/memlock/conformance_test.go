package memlock_test

import (
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/locktest"
	"github.com/scalekit-go/scalekit/lock/memlock"
)

func TestConformance(t *testing.T) {
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

func TestConformanceRealClock(t *testing.T) {
	m := memlock.New(nil)
	locktest.Run(t, locktest.Harness{
		New:     func(*testing.T) driver.Locker { return m },
		TTL:     time.Second, // like the real engines: 500ms lapsed on a loaded 2-core machine
		DropKey: func(_ *testing.T, k string) { m.Expire(k) },
	})
}
