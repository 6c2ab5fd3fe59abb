package idgen_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/idgentest"
	"github.com/scalekit-go/scalekit/idgen/memidgen"
)

// uncapped has 2^20 IDs per 1 ms tick per node, far more than one
// goroutine can draw, so Next never waits and the benchmark measures the
// generator's own cost.
var uncapped = idgen.Layout{TimeBits: 39, NodeBits: 4, SeqBits: 20, Tick: time.Millisecond,
	Epoch: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}

// BenchmarkSnowflakeTwitter draws IDs from one goroutine as fast as the
// Twitter layout allows and reports the rate against its 4,096-per-ms cap.
func BenchmarkSnowflakeTwitter(b *testing.B) {
	g, err := idgen.NewSnowflake(1, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := g.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
	perMs := float64(b.N) / (float64(time.Since(start)) / float64(time.Millisecond))
	b.ReportMetric(perMs, "ids/ms")
	b.ReportMetric(100*perMs/4096, "%cap")
}

// BenchmarkSnowflakeUncapped measures Next where the layout's cap is not
// reached (target ≤ 30 ns, 0 allocs).
func BenchmarkSnowflakeUncapped(b *testing.B) {
	g, err := idgen.NewSnowflake(1, &idgen.SnowflakeOptions{Layout: &uncapped})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClockRead is the baseline for BenchmarkSnowflakeUncapped: one
// monotonic clock read (time.Since), which every Next makes. On virtual
// machines it is often most of Next's cost; compare the two in one run.
func BenchmarkClockRead(b *testing.B) {
	start := time.Now()
	var sink time.Duration
	for b.Loop() {
		sink += time.Since(start)
	}
	if sink < 0 {
		b.Fatal(sink)
	}
}

// BenchmarkSnowflakeUncappedParallel is the same with every core drawing
// from one generator: the cost of contention on its one atomic word.
func BenchmarkSnowflakeUncappedParallel(b *testing.B) {
	g, err := idgen.NewSnowflake(1, &idgen.SnowflakeOptions{Layout: &uncapped})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := g.Next(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSegmentNext measures Segment.Next in steady state (target
// ≤ 20 ns, 0 allocs): blocks of 2^20 from an in-memory source, prefetched.
// The blocks are large because one goroutine draws over 100M IDs/s here,
// a hundred times the rate the refill target is set for (see
// BenchmarkSegmentRefillAt1M); with 1,000-ID blocks each block would last
// 10 µs, less than it takes to wake the fetching goroutine.
func BenchmarkSegmentNext(b *testing.B) {
	seg, err := idgen.NewSegment(memidgen.NewSource(), "bench", &idgen.SegmentOptions{BlockSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Close()
	ctx := context.Background()
	if _, err := seg.Next(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seg.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(seg.Stats().Stalls), "stalls")
}

// BenchmarkSegmentRefillAt1M draws IDs at a paced 1M/s from blocks of
// 1,000 (one block per millisecond) while every block fetch takes 200 µs
// (a loopback PostgreSQL UPDATE … RETURNING) or 500 µs (a database in the
// same zone, with margin). It reports how many Next calls had to wait for
// a block: the target is 0.
func BenchmarkSegmentRefillAt1M(b *testing.B) {
	for _, latency := range []time.Duration{200 * time.Microsecond, 500 * time.Microsecond} {
		b.Run("fetch="+latency.String(), func(b *testing.B) { benchRefill(b, latency) })
	}
}

func benchRefill(b *testing.B, latency time.Duration) {
	idgentest.BenchRefill(b, slowSource{memidgen.NewSource(), latency}, "bench", 1000)
}

// slowSource delays every NextBlock by d, waiting on the monotonic clock
// rather than a timer. A network reply wakes its reader through the
// poller, within microseconds; a runtime timer on a virtual machine can
// fire a millisecond late, which would measure the VM's timer resolution
// instead of the Segment.
type slowSource struct {
	*memidgen.Source
	d time.Duration
}

func (s slowSource) NextBlock(ctx context.Context, name string, size int64) (int64, error) {
	for start := time.Now(); time.Since(start) < s.d; {
		runtime.Gosched()
	}
	return s.Source.NextBlock(ctx, name, size)
}
