package locktest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/lock"
)

// BenchPairs measures uncontended TryAcquire+Release pairs through lk:
// workers goroutines, each on its own key, share b.N pairs. It reports
// ns/op per pair, the aggregate pairs/s and the process's CPU time per
// pair (cpu-ns/op, which includes the engine's CPU only for in-process
// backends). Backends call it with 1 and 8
// workers so that their benchmarks are comparable.
func BenchPairs(b *testing.B, lk *lock.Locker, workers int) {
	ctx := context.Background()
	base := fmt.Sprintf("bench/%d/%d", os.Getpid(), time.Now().UnixNano())
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			k := fmt.Sprintf("%s/%d", base, w)
			for next.Add(1) <= int64(b.N) {
				l, err := lk.TryAcquire(ctx, k, nil)
				if err != nil {
					errc <- err
					return
				}
				if err := l.Release(ctx); err != nil {
					errc <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pairs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the user+system CPU time of this process so far. On a
// shared machine ns/op depends on the load; CPU time per op much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
