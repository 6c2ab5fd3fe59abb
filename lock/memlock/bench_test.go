package memlock_test

import (
	"context"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/locktest"
	"github.com/scalekit-go/scalekit/lock/memlock"
)

// BenchmarkAcquireRelease: TryAcquire+Release through lock.Locker on the
// in-process engine (no round trips). Target: ≤ 1 µs per pair.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, workers := range []int{1, 8} {
		b.Run(map[int]string{1: "workers=1", 8: "workers=8"}[workers], func(b *testing.B) {
			lk, err := lock.New(memlock.New(nil), nil)
			if err != nil {
				b.Fatal(err)
			}
			locktest.BenchPairs(b, lk, workers)
		})
	}
}

// BenchmarkDriverPair is the engine alone (driver TryAcquire+Release), the
// baseline for the cost package lock adds.
func BenchmarkDriverPair(b *testing.B) {
	m := memlock.New(nil)
	ctx := context.Background()
	req := driver.Request{Key: "k", Owner: "o", TTL: time.Minute}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := m.TryAcquire(ctx, req); err != nil {
			b.Fatal(err)
		}
		if err := m.Release(ctx, "k", "o"); err != nil {
			b.Fatal(err)
		}
	}
}
