package sketch_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/scalekit-go/scalekit/sketch"
)

// zipfStream returns n keys drawn from Zipf(s) over keys distinct keys,
// and the true count of each.
func zipfStream(seed uint64, s float64, keys, n int) ([]string, map[string]uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	z := rand.NewZipf(rng, s, 1, uint64(keys-1))
	out := make([]string, n)
	truth := make(map[string]uint64)
	for i := range out {
		// Scramble the rank so hot keys are not the small numbers.
		k := "k" + strconv.FormatUint(z.Uint64()*2654435761%(1<<32), 36)
		out[i] = k
		truth[k]++
	}
	return out, truth
}

// trueTop returns the k keys with the highest counts.
func trueTop(truth map[string]uint64, k int) []sketch.TopKItem {
	var all []sketch.TopKItem
	for key, n := range truth {
		all = append(all, sketch.TopKItem{Key: key, Count: n})
	}
	slices.SortFunc(all, func(a, b sketch.TopKItem) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return 0
	})
	return all[:k]
}

func TestTopKFindsHeavyHitters(t *testing.T) {
	const k = 20
	stream, truth := zipfStream(7, 1.1, 100_000, 300_000)
	tk, err := sketch.NewTopK(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range stream {
		tk.Add(key)
	}
	if tk.Total() != uint64(len(stream)) || tk.K() != k {
		t.Fatalf("Total %d, K %d", tk.Total(), tk.K())
	}
	list := tk.List()
	if len(list) != k {
		t.Fatalf("List has %d items, want %d", len(list), k)
	}
	for i := 1; i < len(list); i++ {
		if list[i].Count > list[i-1].Count {
			t.Fatalf("List not sorted by count: %v", list)
		}
	}
	// Every key whose true count clearly exceeds the k-th largest count
	// plus the sketch's error must be listed, with a count that is an
	// upper bound within εN of the truth.
	top := trueTop(truth, k)
	slack := uint64(sketch.DefaultTopKEpsilon * float64(len(stream)))
	kth := top[k-1].Count
	for _, it := range top {
		if it.Count <= kth+slack {
			continue
		}
		if !tk.Hot(it.Key) {
			t.Errorf("heavy hitter %s (count %d) not reported; list %v", it.Key, it.Count, list)
		}
	}
	for _, it := range list {
		if it.Count < truth[it.Key] || it.Count > truth[it.Key]+slack {
			t.Errorf("%s listed with %d, true count %d (slack %d)", it.Key, it.Count, truth[it.Key], slack)
		}
		if tk.Count(it.Key) < truth[it.Key] {
			t.Errorf("Count(%s) = %d below truth %d", it.Key, tk.Count(it.Key), truth[it.Key])
		}
	}
	// The top 10 in order of true count are the top 10 reported.
	for i := range 10 {
		if list[i].Key != top[i].Key {
			t.Errorf("rank %d: got %s (%d), want %s (%d)", i, list[i].Key, list[i].Count, top[i].Key, top[i].Count)
		}
	}
	if tk.Hot("never-seen") {
		t.Fatal("unseen key reported hot")
	}
}

func TestTopKDecayLetsNewKeysIn(t *testing.T) {
	tk, _ := sketch.NewTopK(2, nil)
	tk.AddN("old-a", 100)
	tk.AddN("old-b", 90)
	if tk.Add("new") {
		t.Fatal("a key seen once displaced keys seen 90+ times")
	}
	for range 8 {
		tk.Decay()
	}
	// Halving 100 and 90 seven times reaches 0: both left the list.
	if l := tk.List(); len(l) != 0 {
		t.Fatalf("after decaying to zero the list is %v", l)
	}
	tk.AddN("old-a", 100)
	tk.AddN("old-b", 90)
	for range 3 {
		tk.Decay() // 12 and 11
	}
	for range 20 {
		tk.Add("new")
	}
	if !tk.Hot("new") || tk.Hot("old-b") {
		t.Fatalf("after decay the new hot key did not take a place: %v", tk.List())
	}
	if !tk.AddN("new", 0) || tk.AddN("old-b", 0) {
		t.Fatal("AddN(key, 0) does not report membership")
	}
	tk.Reset()
	if len(tk.List()) != 0 || tk.Total() != 0 || tk.Count("new") != 0 {
		t.Fatal("Reset kept state")
	}
}

func TestTopKMerge(t *testing.T) {
	// Two instances each see half the traffic; the merged view ranks the
	// keys by their combined counts: "shared" is second on each instance
	// and first overall.
	a, _ := sketch.NewTopK(3, nil)
	b, _ := sketch.NewTopK(3, nil)
	a.AddN("only-a", 100)
	a.AddN("shared", 80)
	a.AddN("a2", 70)
	a.AddN("a3", 65)
	b.AddN("only-b", 90)
	b.AddN("shared", 80)
	b.AddN("b2", 70)
	b.AddN("b3", 65)
	// b is shipped to a's process as bytes.
	data, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var shipped sketch.TopK
	if err := shipped.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if err := a.Merge(&shipped); err != nil {
		t.Fatal(err)
	}
	want := []sketch.TopKItem{{Key: "shared", Count: 160}, {Key: "only-a", Count: 100}, {Key: "only-b", Count: 90}}
	if got := a.List(); !slices.Equal(got, want) {
		t.Fatalf("merged list %v, want %v", got, want)
	}
	if err := a.Merge(a); err != nil || a.Count("shared") != 320 {
		t.Fatalf("self-merge: %v, shared=%d", err, a.Count("shared"))
	}
	c, _ := sketch.NewTopK(3, &sketch.TopKOptions{Epsilon: 0.01})
	if err := a.Merge(c); !errors.Is(err, sketch.ErrIncompatible) {
		t.Fatalf("merge of different sketch sizes: err = %v", err)
	}
}

func TestTopKBadInput(t *testing.T) {
	for _, k := range []int{0, -1} {
		if _, err := sketch.NewTopK(k, nil); !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("NewTopK(%d) err = %v", k, err)
		}
	}
	if _, err := sketch.NewTopK(5, &sketch.TopKOptions{Epsilon: 2}); !errors.Is(err, sketch.ErrInvalidParameter) {
		t.Errorf("epsilon 2: err = %v", err)
	}
	if _, err := sketch.NewTopK(5, &sketch.TopKOptions{Delta: -1}); !errors.Is(err, sketch.ErrInvalidParameter) {
		t.Errorf("delta -1: err = %v", err)
	}
}

func TestTopKConcurrent(t *testing.T) {
	tk, _ := sketch.NewTopK(5, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10_000 {
				tk.Add("hot" + strconv.Itoa(i%3))
				tk.Add("cold" + strconv.Itoa(g*10_000+i))
				if i%100 == 0 {
					tk.List()
					tk.Hot("hot0")
				}
			}
		}()
	}
	wg.Wait()
	for i := range 3 {
		if key := "hot" + strconv.Itoa(i); !tk.Hot(key) || tk.Count(key) < 13_332 {
			t.Fatalf("%s: hot=%v count=%d; list %v", key, tk.Hot(key), tk.Count(key), tk.List())
		}
	}
}
