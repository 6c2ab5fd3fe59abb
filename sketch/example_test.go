package sketch_test

import (
	"fmt"
	"strconv"

	"github.com/scalekit-go/scalekit/sketch"
)

// A Bloom filter of taken usernames answers "definitely free" without a
// database query; only a "maybe taken" needs the authoritative check.
func ExampleBloom() {
	taken, err := sketch.NewBloom(1_000_000, 0.01) // 1M names, 1% false positives
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		taken.AddString(name)
	}
	fmt.Println(taken.TestString("alice"), taken.TestString("dave"))
	fmt.Printf("%d bits (%.1f MiB), %d hash functions\n", taken.Bits(), float64(taken.Bits())/8/1024/1024, taken.Hashes())

	// Ship the filter to another process.
	data, _ := taken.MarshalBinary()
	var copied sketch.Bloom
	if err := copied.UnmarshalBinary(data); err != nil {
		panic(err)
	}
	fmt.Println(copied.TestString("bob"))
	// Output:
	// true false
	// 9585059 bits (1.1 MiB), 7 hash functions
	// true
}

// Each instance counts its own visitors; a reporter merges the sketches
// and counts the union without double-counting visitors seen twice.
func ExampleHyperLogLog_Merge() {
	var web, mobile sketch.HyperLogLog // the zero value is ready to use
	for i := range 60_000 {
		web.AddString("user-" + strconv.Itoa(i))
	}
	for i := 40_000; i < 100_000; i++ {
		mobile.AddString("user-" + strconv.Itoa(i))
	}
	if err := web.Merge(&mobile); err != nil {
		panic(err)
	}
	n := web.Count()
	fmt.Printf("about %dk unique users (true: 100k; standard error %.1f%%)\n", (n+500)/1000, 100*web.StdError())
	// Output:
	// about 102k unique users (true: 100k; standard error 0.8%)
}

func ExampleCountMin() {
	c, err := sketch.NewCountMin(0.001, 0.01) // overcount ≤ 0.1% of N with 99% probability
	if err != nil {
		panic(err)
	}
	for i := range 10_000 {
		c.AddString("/page/"+strconv.Itoa(i%100), 1)
	}
	c.AddString("/checkout", 42)
	fmt.Println(c.CountString("/checkout"), c.CountString("/page/7"), c.Total())
	fmt.Println(c.Width(), c.Depth())
	// Output:
	// 42 100 10042
	// 2719 5
}

// TopK finds the hot keys of a stream, for example to pin them in a local
// cache or spread them over more shards.
func ExampleTopK() {
	hot, err := sketch.NewTopK(2, nil)
	if err != nil {
		panic(err)
	}
	for i := range 1000 {
		hot.Add("user:" + strconv.Itoa(i%50)) // background traffic
		if i%4 == 0 {
			hot.Add("user:celebrity")
		}
		if i%10 == 0 {
			hot.Add("user:trending")
		}
	}
	for _, it := range hot.List() {
		fmt.Println(it.Key, it.Count)
	}
	fmt.Println(hot.Hot("user:7"))
	// Output:
	// user:celebrity 250
	// user:trending 100
	// false
}
