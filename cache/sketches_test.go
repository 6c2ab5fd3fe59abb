package cache_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/sketch"
)

func TestBloomGuard(t *testing.T) {
	f, err := sketch.NewBloom(10_000, 0.001)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		f.AddString("user:" + strconv.Itoa(i))
	}
	c := newCache(t, clock.NewFake(t0), &cache.Options[string, int]{Guard: cache.BloomGuard[string](f, nil)})
	var l countingLoader
	rejected := 0
	for i := 1000; i < 3000; i++ {
		if _, err := c.GetOrLoad(ctx, "user:"+strconv.Itoa(i), l.load); errors.Is(err, cache.ErrNotFound) {
			rejected++
		}
	}
	// Every absent key is rejected except the filter's false positives
	// (0.1% target; allow 1%).
	if rejected < 1980 || int(l.calls.Load()) != 2000-rejected {
		t.Fatalf("guard rejected %d of 2000 absent keys, loader ran %d times", rejected, l.calls.Load())
	}
	for i := range 1000 {
		if _, err := c.GetOrLoad(ctx, "user:"+strconv.Itoa(i), l.load); err != nil {
			t.Fatalf("existing key user:%d: %v", i, err)
		}
	}
	if st := c.Stats(); st.GuardRejects != uint64(rejected) {
		t.Fatalf("GuardRejects = %d, want %d", st.GuardRejects, rejected)
	}
	// Non-string keys go through keyString (default fmt.Sprint).
	ids := cache.BloomGuard[int](f, func(id int) string { return "user:" + strconv.Itoa(id) })
	if !ids(5) || ids(5000) {
		t.Fatal("int guard with keyString answers wrongly")
	}
	f.AddString("42")
	if !cache.BloomGuard[int](f, nil)(42) {
		t.Fatal("default keyString of an int key is not its decimal form")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("BloomGuard(nil) did not panic")
		}
	}()
	cache.BloomGuard[string](nil, nil)
}

func TestHotKeys(t *testing.T) {
	hot, err := sketch.NewTopK(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newCache(t, clock.NewFake(t0), &cache.Options[string, int]{HotKeys: hot})
	var l countingLoader
	// "a" is read 100 times, "b" 60, "c" 30 (through every read method),
	// 200 other keys twice each.
	for range 100 {
		_, _ = c.GetOrLoad(ctx, "a", l.load)
	}
	for range 60 {
		_, _, _ = c.Get(ctx, "b")
	}
	for range 30 {
		_, _ = c.GetMulti(ctx, []string{"c"})
	}
	for i := range 400 {
		_, _, _ = c.Get(ctx, "cold"+strconv.Itoa(i%200))
	}
	got := c.HotKeys()
	want := []sketch.TopKItem{{Key: "a", Count: 100}, {Key: "b", Count: 60}, {Key: "c", Count: 30}}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("HotKeys = %v, want %v", got, want)
	}
	if !hot.Hot("a") || hot.Hot("cold1") {
		t.Fatal("TopK membership wrong")
	}
	plain := newCache(t, clock.NewFake(t0), nil)
	if plain.HotKeys() != nil {
		t.Fatal("HotKeys without Options.HotKeys is not nil")
	}
}

// Hot-key counting uses KeyString when given, so keys of any type show up
// under the names the remote store uses.
func TestHotKeysKeyString(t *testing.T) {
	hot, _ := sketch.NewTopK(1, nil)
	c, err := cache.NewInMemory[int, User](100, &cache.Options[int, User]{HotKeys: hot, KeyString: func(id int) string { return "u" + strconv.Itoa(id) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for range 3 {
		_, _ = c.GetOrLoad(ctx, 2, loadUser)
	}
	if l := c.HotKeys(); len(l) != 1 || l[0].Key != "u2" || l[0].Count != 3 {
		t.Fatalf("HotKeys = %v", l)
	}
}

func TestHotKeysSampled(t *testing.T) {
	hot, _ := sketch.NewTopK(2, nil)
	c := newCache(t, clock.NewFake(t0), &cache.Options[string, int]{HotKeys: hot, HotKeysSample: 10})
	for i := range 30_000 {
		switch {
		case i%3 == 0:
			_, _, _ = c.Get(ctx, "a") // 10,000 reads
		case i%6 == 1:
			_, _, _ = c.Get(ctx, "b") // 5,000 reads
		default:
			_, _, _ = c.Get(ctx, "cold"+strconv.Itoa(i)) // 15,000 keys read once
		}
	}
	l := c.HotKeys()
	if len(l) != 2 || l[0].Key != "a" || l[1].Key != "b" {
		t.Fatalf("sampled HotKeys = %v, want a then b", l)
	}
	// Sampled counts estimate the true counts: ±15% is over 4 standard
	// deviations here.
	for _, it := range l {
		want := map[string]float64{"a": 10_000, "b": 5_000}[it.Key]
		if got := float64(it.Count); got < 0.85*want || got > 1.15*want {
			t.Errorf("%s counted %v, want about %v", it.Key, got, want)
		}
	}
	s, _ := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 10})
	if _, err := cache.NewLocal(s, &cache.Options[string, int]{HotKeys: hot, HotKeysSample: -1}); !errors.Is(err, cache.ErrInvalidTTL) {
		t.Fatalf("negative HotKeysSample: %v", err)
	}
}
