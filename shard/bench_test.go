package shard_test

import (
	"testing"

	"github.com/scalekit-go/scalekit/shard"
)

// BenchmarkLookup measures one Lookup per op over 100 nodes.
//
//	go test -run=^$ -bench=Lookup -benchmem ./shard/
func BenchmarkLookup(b *testing.B) {
	names := nodeNames("n", 100)
	keys := testKeys[:4096]
	for _, name := range []string{"modulo", "jump", "ring", "rendezvous", "bounded"} {
		s, err := constructors[name](names)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_, _ = s.Lookup(keys[i&4095])
			}
		})
	}
	bl, _ := shard.NewBoundedLoad(shard.Names(names...), 0.25, nil)
	b.Run("bounded-place-done", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = bl.Done(bl.Place(keys[i&4095]))
		}
	})
	rs, _ := shard.NewRangeSplits(names[1:], names)
	b.Run("range", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = rs.Lookup(keys[i&4095])
		}
	})
}

// BenchmarkBalance1M reports, for 100 nodes and 1M keys, max/mean and
// stddev/mean of keys per node, and the fraction of keys moved when the
// 100th node is added (ideal 0.01). Run once:
//
//	go test -run=^$ -bench=Balance1M -benchtime=1x ./shard/
func BenchmarkBalance1M(b *testing.B) {
	keys := makeKeys(1_000_000)
	names := nodeNames("n", 100)
	for _, name := range []string{"modulo", "jump", "ring", "rendezvous", "bounded"} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s, _ := constructors[name](names)
				small, _ := constructors[name](names[:99])
				var owners []string
				if bl, ok := s.(*shard.BoundedLoad); ok {
					owners = make([]string, len(keys))
					for j, k := range keys {
						owners[j] = names[bl.Place(k)]
					}
				} else {
					owners = assignment(b, s, keys)
				}
				mm, cv := balance(names, owners)
				frac, _ := movement(assignment(b, small, keys), assignment(b, s, keys), names[99])
				b.ReportMetric(mm, "max/mean")
				b.ReportMetric(cv, "stddev/mean")
				b.ReportMetric(frac, "moved-on-add")
			}
		})
	}
}
