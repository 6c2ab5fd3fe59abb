package lbtest_test

import (
	"fmt"
	"testing"

	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/lbtest"
)

// A distribution test: make picks, tally them, compare with the shares the
// policy promises.
func Example() {
	_ = func(t *testing.T) {
		eps := lbtest.Addrs(4)
		bs, err := lb.NewBackends(eps, 0)
		if err != nil {
			t.Fatal(err)
		}
		ready := make([]lb.Weighted, len(bs))
		for i, b := range bs {
			ready[i] = lb.Weighted{Backend: b, Weight: 1}
		}
		p := lb.RoundRobin().Build(ready)
		seq := lbtest.Sequence(t, p, 4000, nil, false)
		lbtest.CheckShares(t, lbtest.Counts(seq), lbtest.Equal(eps), 0.01)
	}
}

// Moved measures how many keys change endpoint when the set changes.
func ExampleMoved() {
	before := map[string]string{"k1": "a", "k2": "b", "k3": "c", "k4": "a"}
	after := map[string]string{"k1": "a", "k2": "b", "k3": "d", "k4": "a"}
	fmt.Println(lbtest.Moved(before, after))
	// Output: 0.25
}
