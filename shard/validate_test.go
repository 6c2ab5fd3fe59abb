package shard_test

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/scalekit-go/scalekit/shard"
)

func TestValidation(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"modulo empty", second(shard.NewModulo(nil)), shard.ErrNoNodes},
		{"modulo dup", second(shard.NewModulo([]string{"a", "a"})), shard.ErrDuplicateNode},
		{"jump empty name", second(shard.NewJump([]string{"a", ""})), shard.ErrEmptyName},
		{"ring empty", second(shard.NewRing(nil, nil)), shard.ErrNoNodes},
		{"ring zero weight ok", second(shard.NewRing([]shard.Node{{Name: "a"}}, nil)), nil},
		{"ring negative weight", second(shard.NewRing([]shard.Node{{Name: "a", Weight: -1}}, nil)), shard.ErrBadWeight},
		{"ring NaN weight", second(shard.NewRing([]shard.Node{{Name: "a", Weight: nan}}, nil)), shard.ErrBadWeight},
		{"ring inf weight", second(shard.NewRing([]shard.Node{{Name: "a", Weight: math.Inf(1)}}, nil)), shard.ErrBadWeight},
		{"ring huge weight", second(shard.NewRing([]shard.Node{{Name: "a", Weight: 1e12}}, nil)), shard.ErrBadWeight},
		{"ring negative vnodes", second(shard.NewRing(shard.Names("a"), &shard.RingOptions{VirtualNodes: -1})), shard.ErrBadArgument},
		{"ring dup", second(shard.NewRing(shard.Names("a", "b", "a"), nil)), shard.ErrDuplicateNode},
		{"rendezvous dup", second(shard.NewRendezvous(shard.Names("x", "x"))), shard.ErrDuplicateNode},
		{"rendezvous weight", second(shard.NewRendezvous([]shard.Node{{Name: "a", Weight: -2}})), shard.ErrBadWeight},
		{"bounded eps 0", second(shard.NewBoundedLoad(shard.Names("a"), 0, nil)), shard.ErrBadEpsilon},
		{"bounded eps <0", second(shard.NewBoundedLoad(shard.Names("a"), -1, nil)), shard.ErrBadEpsilon},
		{"bounded eps NaN", second(shard.NewBoundedLoad(shard.Names("a"), nan, nil)), shard.ErrBadEpsilon},
		{"bounded eps inf", second(shard.NewBoundedLoad(shard.Names("a"), math.Inf(1), nil)), shard.ErrBadEpsilon},
		{"bounded empty", second(shard.NewBoundedLoad(nil, 0.5, nil)), shard.ErrNoNodes},
		{"splits count", second(shard.NewRangeSplits([]int{10}, []string{"a"})), shard.ErrBadRanges},
		{"splits unsorted", second(shard.NewRangeSplits([]int{10, 5}, []string{"a", "b", "c"})), shard.ErrBadRanges},
		{"splits equal", second(shard.NewRangeSplits([]int{5, 5}, []string{"a", "b", "c"})), shard.ErrBadRanges},
		{"splits no nodes", second(shard.NewRangeSplits[int](nil, nil)), shard.ErrNoNodes},
		{"range empty", second(shard.NewRange[int](nil)), shard.ErrNoNodes},
		{"range overlap", second(shard.NewRange([]shard.Span[int]{{0, 10, "a"}, {5, 20, "b"}})), shard.ErrBadRanges},
		{"range gap", second(shard.NewRange([]shard.Span[int]{{0, 10, "a"}, {11, 20, "b"}})), shard.ErrBadRanges},
		{"range empty span", second(shard.NewRange([]shard.Span[int]{{10, 10, "a"}})), shard.ErrBadRanges},
		{"range no name", second(shard.NewRange([]shard.Span[int]{{0, 10, ""}})), shard.ErrEmptyName},
		{"list empty", second(shard.NewList(nil, "")), shard.ErrNoNodes},
		{"list dup value", second(shard.NewList(map[string][]string{"a": {"x"}, "b": {"x"}}, "")), shard.ErrBadList},
		{"list no values", second(shard.NewList(map[string][]string{"a": nil}, "")), shard.ErrBadList},
		{"list bad default", second(shard.NewList(map[string][]string{"a": {"x"}}, "z")), shard.ErrBadList},
		{"composite nil", second(shard.NewComposite(nil, nil, nil)), shard.ErrBadArgument},
	}
	for _, c := range cases {
		if c.want == nil {
			if c.err != nil {
				t.Errorf("%s: unexpected error %v", c.name, c.err)
			}
			continue
		}
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestRangeLookup(t *testing.T) {
	r, err := shard.NewRangeSplits([]string{"g", "p"}, []string{"a-f", "g-o", "p-z"})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"": "a-f", "apple": "a-f", "g": "g-o", "fzzz": "a-f", "oz": "g-o", "p": "p-z", "zzz": "p-z"} {
		if got := mustLookup(t, r, k); got != want {
			t.Errorf("%q → %s, want %s", k, got, want)
		}
	}
	b, err := shard.NewRange([]shard.Span[int64]{{0, 100, "x"}, {100, 200, "y"}, {200, 300, "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Nodes()) != 2 {
		t.Fatalf("nodes %v", b.Nodes())
	}
	for k, want := range map[int64]string{0: "x", 99: "x", 100: "y", 199: "y", 200: "x", 299: "x"} {
		i, err := b.LookupKey(k)
		if err != nil || b.Nodes()[i] != want {
			t.Errorf("%d → %v %v, want %s", k, i, err, want)
		}
	}
	for _, k := range []int64{-1, 300, 1 << 40} {
		if _, err := b.LookupKey(k); !errors.Is(err, shard.ErrNoShard) {
			t.Errorf("%d outside: %v", k, err)
		}
	}
	if _, err := b.Lookup("5"); !errors.Is(err, shard.ErrBadArgument) {
		t.Errorf("string lookup on int range: %v", err)
	}
	if sp := b.Spans(); len(sp) != 3 || sp[2].Hi != 300 || sp[1].Lo != 100 {
		t.Errorf("spans %+v", sp)
	}
}

func TestListAndComposite(t *testing.T) {
	l, err := shard.NewList(map[string][]string{"eu": {"de", "fr"}, "us": {"us", "ca"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if mustLookup(t, l, "fr") != "eu" || mustLookup(t, l, "ca") != "us" {
		t.Fatal("list lookup")
	}
	if _, err := l.Lookup("jp"); !errors.Is(err, shard.ErrNoShard) {
		t.Fatalf("unlisted: %v", err)
	}
	ld, _ := shard.NewList(map[string][]string{"eu": {"de"}, "rest": {"us"}}, "rest")
	if mustLookup(t, ld, "jp") != "rest" {
		t.Fatal("default")
	}
	eu, _ := shard.NewJump([]string{"eu-0", "eu-1"})
	us, _ := shard.NewJump([]string{"us-0", "us-1", "us-2"})
	prefix := func(k string) string { return k[:2] }
	c, err := shard.NewComposite(l, map[string]shard.Strategy{"eu": eu, "us": us}, &shard.CompositeOptions{OuterKey: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Nodes()) != 5 {
		t.Fatalf("nodes %v", c.Nodes())
	}
	seen := map[string]bool{}
	for _, k := range testKeys[:1000] {
		n := mustLookup(t, c, "fr/"+k)
		if n[:2] != "eu" {
			t.Fatalf("fr key on %s", n)
		}
		seen[n] = true
		if n := mustLookup(t, c, "ca/"+k); n[:2] != "us" {
			t.Fatalf("ca key on %s", n)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("inner strategy unused: %v", seen)
	}
	if _, err := c.Lookup("jp/x"); !errors.Is(err, shard.ErrNoShard) {
		t.Fatalf("unlisted composite: %v", err)
	}
	if _, err := shard.NewComposite(l, map[string]shard.Strategy{"eu": eu}, nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatalf("missing group: %v", err)
	}
	if _, err := shard.NewComposite(l, map[string]shard.Strategy{"eu": eu, "us": us, "xx": us}, nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatalf("unknown group: %v", err)
	}
	if _, err := shard.NewComposite(l, map[string]shard.Strategy{"eu": eu, "us": eu}, nil); !errors.Is(err, shard.ErrDuplicateNode) {
		t.Fatalf("shared nodes: %v", err)
	}
}

// TestBoundedLoadBound places keys one by one and checks after every
// placement that no node exceeds ⌈(1+ε)·average⌉ — including when the keys
// are all identical (the case where a plain ring puts everything on one
// node).
func TestBoundedLoadBound(t *testing.T) {
	for _, eps := range []float64{0.01, 0.25, 1} {
		for _, same := range []bool{false, true} {
			b, err := shard.NewBoundedLoad(shard.Names(nodeNames("n", 10)...), eps, &shard.RingOptions{VirtualNodes: 64})
			if err != nil {
				t.Fatal(err)
			}
			var loads []int64
			for i, k := range testKeys[:20000] {
				if same {
					k = "hot"
				}
				b.Place(k)
				var total int64
				loads, total = b.Loads(loads[:0])
				bound := int64(math.Ceil((1 + eps) * float64(total) / 10))
				for n, l := range loads {
					if l > bound {
						t.Fatalf("eps=%v same=%v after %d keys node %d load %d > bound %d", eps, same, i+1, n, l, bound)
					}
				}
			}
		}
	}
}

func TestBoundedLoadConcurrentPlaceDone(t *testing.T) {
	b, _ := shard.NewBoundedLoad(shard.Names(nodeNames("n", 5)...), 0.1, &shard.RingOptions{VirtualNodes: 32})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				n := b.Place(testKeys[g*2000+i])
				if i%2 == 0 {
					if err := b.Done(n); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	loads, total := b.Loads(nil)
	var sum int64
	for _, l := range loads {
		sum += l
	}
	if total != 4000 || sum != total {
		t.Fatalf("total %d sum %d, want 4000", total, sum)
	}
	if err := b.Done(99); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatalf("Done out of range: %v", err)
	}
	empty, _ := shard.NewBoundedLoad(shard.Names("a"), 0.1, nil)
	if err := empty.Done(0); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatalf("Done on empty node: %v", err)
	}
	if c := empty.Capacity(0); c != 2 {
		t.Fatalf("capacity of 1 node for the first key: %d, want ⌈1.1⌉=2", c)
	}
}
