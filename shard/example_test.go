package shard_test

import (
	"fmt"

	"github.com/scalekit-go/scalekit/shard"
)

func Example() {
	s, err := shard.NewJump([]string{"db0", "db1", "db2"})
	if err != nil {
		panic(err)
	}
	i, _ := s.Lookup("user:42")
	j, _ := s.Lookup("user:42")
	fmt.Println(i == j, s.Nodes()[i] != "")

	_, err = shard.NewRing([]shard.Node{{Name: "a", Weight: -1}}, nil)
	fmt.Println(err)
	// Output:
	// true true
	// shard.NewRing: node "a" weight -1: shard: weight must be finite and > 0
}

func ExampleNewRange() {
	r, _ := shard.NewRange([]shard.Span[int]{{Lo: 0, Hi: 1000, Node: "old"}, {Lo: 1000, Hi: 2000, Node: "new"}})
	i, _ := r.LookupKey(1500)
	fmt.Println(r.Nodes()[i])
	_, err := r.LookupKey(5000)
	fmt.Println(err)
	_, err = shard.NewRange([]shard.Span[int]{{Lo: 0, Hi: 10, Node: "a"}, {Lo: 12, Hi: 20, Node: "b"}})
	fmt.Println(err)
	// Output:
	// new
	// shard.RangeStrategy: key 5000 outside [0, 2000): shard: no shard owns key
	// shard.NewRange: gap [10, 12) between spans 0 and 1: shard: bad ranges
}

func ExampleBoundedLoad() {
	b, _ := shard.NewBoundedLoad(shard.Names("a", "b", "c"), 0.25, nil)
	for i := 0; i < 300; i++ {
		b.Place("same-hot-key") // a plain ring would put all 300 on one node
	}
	loads, total := b.Loads(nil)
	fmt.Println(loads, total)
	// Output:
	// [125 125 50] 300
}
