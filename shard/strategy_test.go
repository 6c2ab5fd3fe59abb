package shard_test

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/shard"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testKeys is the key set of the property tests: small enough for -race.
var testKeys = makeKeys(200_000)

func makeKeys(n int) []string {
	k := make([]string, n)
	for i := range k {
		k[i] = "user:" + strconv.Itoa(i)
	}
	return k
}

func nodeNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

// constructors builds each hash strategy over a list of names.
var constructors = map[string]func(names []string) (shard.Strategy, error){
	"modulo": func(n []string) (shard.Strategy, error) { return shard.NewModulo(n) },
	"jump":   func(n []string) (shard.Strategy, error) { return shard.NewJump(n) },
	"ring":   func(n []string) (shard.Strategy, error) { return shard.NewRing(shard.Names(n...), nil) },
	"rendezvous": func(n []string) (shard.Strategy, error) {
		return shard.NewRendezvous(shard.Names(n...))
	},
	"bounded": func(n []string) (shard.Strategy, error) {
		return shard.NewBoundedLoad(shard.Names(n...), 0.25, nil)
	},
}

func mustLookup(t testing.TB, s shard.Strategy, k string) string {
	i, err := s.Lookup(k)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", k, err)
	}
	return s.Nodes()[i]
}

// assignment maps every key to its node name.
func assignment(t testing.TB, s shard.Strategy, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = mustLookup(t, s, k)
	}
	return out
}

// balance returns max/mean and stddev/mean of per-node counts.
func balance(nodes []string, owners []string) (maxMean, cv float64) {
	count := map[string]float64{}
	for _, n := range nodes {
		count[n] = 0
	}
	for _, o := range owners {
		count[o]++
	}
	mean := float64(len(owners)) / float64(len(nodes))
	var mx, ss float64
	for _, c := range count {
		mx = math.Max(mx, c)
		ss += (c - mean) * (c - mean)
	}
	return mx / mean, math.Sqrt(ss/float64(len(nodes))) / mean
}

func TestDeterministic(t *testing.T) {
	for name, mk := range constructors {
		t.Run(name, func(t *testing.T) {
			a, err := mk(nodeNames("n", 7))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := mk(nodeNames("n", 7))
			for _, k := range testKeys[:20000] {
				if x, y := mustLookup(t, a, k), mustLookup(t, b, k); x != y {
					t.Fatalf("key %q: %s then %s from two equal strategies", k, x, y)
				}
			}
		})
	}
}

func TestBalance(t *testing.T) {
	// 200k keys over 20 nodes: 10k per node, so noise alone is ~1%.
	limits := map[string]float64{"modulo": 1.05, "jump": 1.05, "rendezvous": 1.05, "ring": 1.15, "bounded": 1.15}
	names := nodeNames("n", 20)
	for name, mk := range constructors {
		t.Run(name, func(t *testing.T) {
			s, err := mk(names)
			if err != nil {
				t.Fatal(err)
			}
			mm, cv := balance(names, assignment(t, s, testKeys))
			t.Logf("%s: max/mean %.4f stddev/mean %.4f", name, mm, cv)
			if mm > limits[name] {
				t.Fatalf("max/mean %.4f > %.2f", mm, limits[name])
			}
		})
	}
}

// movement returns the fraction of keys whose owner changed, and whether
// every moved key moved to (or from) the changed node.
func movement(before, after []string, changed string) (frac float64, minimal bool) {
	moved := 0
	minimal = true
	for i := range before {
		if before[i] != after[i] {
			moved++
			if before[i] != changed && after[i] != changed {
				minimal = false
			}
		}
	}
	return float64(moved) / float64(len(before)), minimal
}

func TestMovementOnAddAndRemove(t *testing.T) {
	const n = 10
	keys := testKeys[:100_000]
	for _, name := range []string{"jump", "ring", "rendezvous"} {
		mk := constructors[name]
		t.Run(name, func(t *testing.T) {
			small, _ := mk(nodeNames("n", n))
			big, _ := mk(nodeNames("n", n+1))
			before, after := assignment(t, small, keys), assignment(t, big, keys)
			frac, minimal := movement(before, after, fmt.Sprintf("n%03d", n))
			ideal := 1.0 / float64(n+1)
			t.Logf("add: moved %.4f ideal %.4f", frac, ideal)
			if !minimal {
				t.Fatal("a key moved between two old nodes on add")
			}
			if math.Abs(frac-ideal)/ideal > 0.10 {
				t.Fatalf("add moved %.4f of keys, ideal %.4f (more than 10%% off)", frac, ideal)
			}
			// Removal is the reverse for jump (last node only); for ring
			// and rendezvous remove a middle node.
			if name == "jump" {
				return
			}
			names := nodeNames("n", n)
			gone := names[3]
			rest := append(append([]string{}, names[:3]...), names[4:]...)
			fewer, _ := mk(rest)
			after = assignment(t, fewer, keys)
			frac, minimal = movement(before, after, gone)
			ideal = 1.0 / float64(n)
			t.Logf("remove: moved %.4f ideal %.4f", frac, ideal)
			if !minimal || math.Abs(frac-ideal)/ideal > 0.10 {
				t.Fatalf("remove moved %.4f (ideal %.4f), minimal=%v", frac, ideal, minimal)
			}
		})
	}
	t.Run("modulo-moves-most", func(t *testing.T) {
		small, _ := shard.NewModulo(nodeNames("n", n))
		big, _ := shard.NewModulo(nodeNames("n", n+1))
		frac, _ := movement(assignment(t, small, keys), assignment(t, big, keys), "n010")
		if frac < 0.8 {
			t.Fatalf("modulo moved only %.3f; expected about N/(N+1)", frac)
		}
	})
}

// TestJumpPublishedVectors checks JumpHash against outputs of the paper's
// C++ code as published by independent implementations (ClickHouse's
// jumpConsistentHash test reference).
func TestJumpPublishedVectors(t *testing.T) {
	vectors := []struct {
		key     uint64
		buckets int32
		want    int32
	}{
		{1, 1, 0}, {42, 57, 43}, {256, 1024, 520}, {0xDEAD10CC, 1, 0},
		{0xDEAD10CC, 666, 361}, {16045690984833335023, 255, 237},
	}
	for _, v := range vectors {
		if got := shard.JumpHash(v.key, v.buckets); got != v.want {
			t.Errorf("JumpHash(%d, %d) = %d, want %d", v.key, v.buckets, got, v.want)
		}
	}
	if shard.JumpHash(1, 0) != -1 || shard.JumpHash(1, -5) != -1 {
		t.Error("JumpHash with no buckets must return -1")
	}
}

// TestJumpDefinition checks the defining property of jump hash: growing
// from n to n+1 buckets, a key either stays or moves to bucket n, and it
// moves with probability 1/(n+1).
func TestJumpDefinition(t *testing.T) {
	for n := int32(1); n < 40; n++ {
		moved := 0
		const keys = 20000
		for k := uint64(0); k < keys; k++ {
			h := shard.Hash(strconv.FormatUint(k, 10))
			a, b := shard.JumpHash(h, n), shard.JumpHash(h, n+1)
			if a != b {
				if b != n {
					t.Fatalf("n=%d key %d moved from %d to %d, not to the new bucket", n, k, a, b)
				}
				moved++
			}
		}
		want := keys / float64(n+1)
		if math.Abs(float64(moved)-want) > 5*math.Sqrt(want) {
			t.Fatalf("n=%d: %d moved, want about %.0f", n, moved, want)
		}
	}
}

// TestRendezvousDefinition checks Lookup against the definition computed
// naively with Score (argmax), and that weights give proportional shares.
func TestRendezvousDefinition(t *testing.T) {
	nodes := []shard.Node{{Name: "a", Weight: 1}, {Name: "b", Weight: 2}, {Name: "c", Weight: 3}, {Name: "d", Weight: 4}}
	r, err := shard.NewRendezvous(nodes)
	if err != nil {
		t.Fatal(err)
	}
	count := make([]float64, len(nodes))
	keys := testKeys[:100_000]
	for _, k := range keys {
		got, _ := r.Lookup(k)
		best, bs := -1, math.Inf(-1)
		for i := range nodes {
			if s := r.Score(shard.Hash(k), i); s > bs {
				best, bs = i, s
			}
		}
		if got != best {
			t.Fatalf("key %q: Lookup %d, argmax of scores %d", k, got, best)
		}
		count[got]++
	}
	for i, n := range nodes {
		share, want := count[i]/float64(len(keys)), n.Weight/10
		if math.Abs(share-want)/want > 0.03 {
			t.Errorf("node %s share %.4f want %.4f", n.Name, share, want)
		}
	}
	// Equal weights use the hash shortcut; it must agree with the scores.
	eq, _ := shard.NewRendezvous(shard.Names("a", "b", "c"))
	for _, k := range keys[:5000] {
		got, _ := eq.Lookup(k)
		best, bs := -1, math.Inf(-1)
		for i := 0; i < 3; i++ {
			if s := eq.Score(shard.Hash(k), i); s > bs {
				best, bs = i, s
			}
		}
		if got != best {
			t.Fatalf("equal weights: key %q Lookup %d argmax %d", k, got, best)
		}
	}
}

func TestRingWeightsAndReplicas(t *testing.T) {
	r, err := shard.NewRing([]shard.Node{{Name: "small", Weight: 1}, {Name: "big", Weight: 3}}, &shard.RingOptions{VirtualNodes: 256})
	if err != nil {
		t.Fatal(err)
	}
	if r.Points() != 256*4 {
		t.Fatalf("points %d", r.Points())
	}
	owners := assignment(t, r, testKeys[:100_000])
	big := 0
	for _, o := range owners {
		if o == "big" {
			big++
		}
	}
	if share := float64(big) / 100_000; math.Abs(share-0.75) > 0.05 {
		t.Fatalf("weight-3 node holds %.3f of keys, want ~0.75", share)
	}
	r5, _ := shard.NewRing(shard.Names(nodeNames("n", 5)...), nil)
	var buf []int
	for _, k := range testKeys[:2000] {
		buf, err = r5.Replicas(k, 3, buf[:0])
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) != 3 || buf[0] == buf[1] || buf[1] == buf[2] || buf[0] == buf[2] {
			t.Fatalf("replicas %v not 3 distinct nodes", buf)
		}
		if first, _ := r5.Lookup(k); first != buf[0] {
			t.Fatalf("first replica %d != Lookup %d", buf[0], first)
		}
	}
	if _, err := r5.Replicas("k", 6, nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatalf("6 replicas of 5 nodes: %v", err)
	}
	if _, err := r5.Replicas("k", 0, nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatalf("0 replicas: %v", err)
	}
}
