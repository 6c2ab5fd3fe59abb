package bench

import (
	"context"
	"testing"
	"time"

	bwsnow "github.com/bwmarrin/snowflake"
	"github.com/sony/sonyflake"

	"github.com/scalekit-go/scalekit/idgen"
)

// uncapped gives 2^20 IDs per millisecond, more than one goroutine can
// draw, so Next never waits and the benchmark measures the generator.
var uncapped = idgen.Layout{TimeBits: 39, NodeBits: 4, SeqBits: 20, Tick: time.Millisecond,
	Epoch: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}

func scalekitSnowflake(b *testing.B, l idgen.Layout) func() {
	g, err := idgen.NewSnowflake(1, &idgen.SnowflakeOptions{Layout: &l})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	return func() {
		if _, err := g.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// bwmarrinNode builds a bwmarrin/snowflake node with the given bit split.
// The library keeps the split in package variables read by NewNode.
func bwmarrinNode(b *testing.B, nodeBits, stepBits uint8) *bwsnow.Node {
	bwsnow.NodeBits, bwsnow.StepBits = nodeBits, stepBits
	n, err := bwsnow.NewNode(1)
	bwsnow.NodeBits, bwsnow.StepBits = 10, 12
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkCmpSnowflakeUncapped: one goroutine, a layout whose per-tick cap
// is never reached, so both sides measure their own cost per ID.
func BenchmarkCmpSnowflakeUncapped(b *testing.B) {
	b.Run("scalekit", func(b *testing.B) {
		next := scalekitSnowflake(b, uncapped)
		b.ReportAllocs()
		for b.Loop() {
			next()
		}
	})
	b.Run("bwmarrin", func(b *testing.B) {
		n := bwmarrinNode(b, 2, 20)
		b.ReportAllocs()
		for b.Loop() {
			n.Generate()
		}
	})
}

// BenchmarkCmpSnowflakeParallel: all procs draw from one generator.
func BenchmarkCmpSnowflakeParallel(b *testing.B) {
	b.Run("scalekit", func(b *testing.B) {
		next := scalekitSnowflake(b, uncapped)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				next()
			}
		})
	})
	b.Run("bwmarrin", func(b *testing.B) {
		n := bwmarrinNode(b, 2, 20)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n.Generate()
			}
		})
	})
}

// capRate reports IDs per second as a percentage of the layout's cap.
func capRate(b *testing.B, start time.Time, perSecondCap float64) {
	rate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(100*rate/perSecondCap, "%cap")
}

// BenchmarkCmpSnowflakeTwitterCap: the Twitter layout (4,096 IDs per ms):
// how close each generator runs to its cap.
func BenchmarkCmpSnowflakeTwitterCap(b *testing.B) {
	b.Run("scalekit", func(b *testing.B) {
		next := scalekitSnowflake(b, idgen.TwitterLayout)
		start := time.Now()
		for b.Loop() {
			next()
		}
		capRate(b, start, 4096e3)
	})
	b.Run("bwmarrin", func(b *testing.B) {
		n := bwmarrinNode(b, 10, 12)
		start := time.Now()
		for b.Loop() {
			n.Generate()
		}
		capRate(b, start, 4096e3)
	})
}

// BenchmarkCmpSonyflakeCap: sonyflake's layout (10 ms ticks, 8 sequence
// bits: 25,600 IDs per second) on both generators.
func BenchmarkCmpSonyflakeCap(b *testing.B) {
	sony := idgen.Layout{TimeBits: 39, NodeBits: 16, SeqBits: 8, Tick: 10 * time.Millisecond,
		Epoch: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	b.Run("scalekit", func(b *testing.B) {
		next := scalekitSnowflake(b, sony)
		start := time.Now()
		for b.Loop() {
			next()
		}
		capRate(b, start, 25600)
	})
	b.Run("sonyflake", func(b *testing.B) {
		sf, err := sonyflake.New(sonyflake.Settings{MachineID: func() (uint16, error) { return 1, nil }})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for b.Loop() {
			if _, err := sf.NextID(); err != nil {
				b.Fatal(err)
			}
		}
		capRate(b, start, 25600)
	})
}
