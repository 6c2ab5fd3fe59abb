package idgen_test

import (
	"context"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/memidgen"
)

func ExampleNewSnowflake() {
	g, err := idgen.NewSnowflake(7, nil) // node 7, TwitterLayout
	if err != nil {
		panic(err)
	}
	// Next(ctx) uses the clock; NextAt takes the time, for reproducible
	// output here.
	id, err := g.NextAt(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	p, _ := g.Decode(id)
	fmt.Println(id)
	fmt.Println(p.Time, p.Node, p.Sequence)
	fmt.Println(idgen.EncodeBase62(uint64(id)))
	// Output:
	// 2028077791441874944
	// 2026-03-01 12:00:00 +0000 UTC 7 0
	// 2PocIpJRWT2
}

func ExampleLayout_MaxRate() {
	for _, l := range []idgen.Layout{idgen.TwitterLayout, idgen.LongLivedLayout} {
		fmt.Printf("%.0f IDs/s per node, %d nodes, until %d\n", l.MaxRate(), l.MaxNode()+1, l.End().Year())
	}
	// Output:
	// 4096000 IDs/s per node, 1024 nodes, until 2080
	// 25600 IDs/s per node, 65536 nodes, until 2199
}

func ExampleLayout_Validate() {
	l := idgen.Layout{TimeBits: 41, NodeBits: 10, SeqBits: 10, Tick: time.Millisecond}
	fmt.Println(l.Validate())
	// Output:
	// idgen: invalid layout: TimeBits+NodeBits+SeqBits = 41+10+10 = 61, must be 63
}

func ExampleNewSegment() {
	src := memidgen.NewSource() // pgidgen or redisidgen in production
	seg, err := idgen.NewSegment(src, "orders", &idgen.SegmentOptions{BlockSize: 100})
	if err != nil {
		panic(err)
	}
	defer seg.Close()
	for range 3 {
		id, _ := seg.Next(context.Background())
		fmt.Println(id)
	}
	// Output:
	// 1
	// 2
	// 3
}

func ExampleAcquireNode() {
	ctx := context.Background()
	nodes := memidgen.NewNodeIDs(nil) // a lock-based driver in production
	layout := idgen.TwitterLayout
	lease, err := idgen.AcquireNode(ctx, nodes, "checkout", layout.MaxNode(), nil)
	if err != nil {
		panic(err)
	}
	defer lease.Release(ctx)
	g, err := idgen.NewSnowflake(lease.ID(), &idgen.SnowflakeOptions{Lease: lease})
	if err != nil {
		panic(err)
	}
	id, err := g.Next(ctx) // fails with ErrNodeLeaseLost once the lease is lost
	p, _ := g.Decode(id)
	fmt.Println(lease.ID(), p.Node, err)
	// Output:
	// 0 0 <nil>
}

func ExampleDecodeBase32() {
	// Crockford base32 forgives the usual misreadings.
	for _, s := range []string{"14SC0PJ", "14sc-opj", "14SCU"} {
		n, err := idgen.DecodeBase32(s)
		fmt.Println(n, err)
	}
	// Output:
	// 1234567890 <nil>
	// 1234567890 <nil>
	// 0 idgen: invalid encoding: base32 string "14SCU" has invalid character 'U' at offset 4
}
