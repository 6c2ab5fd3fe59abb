package redissketch_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/sketch"
	"github.com/scalekit-go/scalekit/sketch/redissketch"
)

func newHLL(t testing.TB, c redis.UniversalClient, prefix, name string) *redissketch.HyperLogLog {
	t.Helper()
	h, err := redissketch.NewHyperLogLog(c, name, &redissketch.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// addRange adds "u<i>" for i in [from, to), a thousand per PFADD.
func addRange(t testing.TB, h *redissketch.HyperLogLog, from, to int) {
	t.Helper()
	for i := from; i < to; i += 1000 {
		batch := make([]string, 0, 1000)
		for j := i; j < min(i+1000, to); j++ {
			batch = append(batch, "u"+strconv.Itoa(j))
		}
		if _, err := h.Add(context.Background(), batch...); err != nil {
			t.Fatal(err)
		}
	}
}

func checkCount(t *testing.T, h *redissketch.HyperLogLog, want int) {
	t.Helper()
	got, err := h.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rel := (float64(got) - float64(want)) / float64(want)
	t.Logf("%s: %d distinct, estimate %d, relative error %+.4f", h.Key(), want, got, rel)
	if math.Abs(rel) > 3*redissketch.StdError {
		t.Fatalf("estimate %d of %d is off by %.4f, more than 3 standard errors", got, want, rel)
	}
}

// Two instances add overlapping users to one counter; either sees the
// count of the union, within 3 standard errors at 10^3…10^5.
func TestHyperLogLogSharedByTwoInstances(t *testing.T) {
	url, prefix := testenv.RedisURL(t), testenv.Prefix(t)
	a := newHLL(t, newClient(t, url), prefix, "dau")
	b := newHLL(t, newClient(t, url), prefix, "dau")
	if n, err := b.Count(context.Background()); err != nil || n != 0 {
		t.Fatalf("count of a new counter: %d, %v", n, err)
	}
	total := 0
	for _, n := range []int{1000, 10_000, 100_000} {
		addRange(t, a, total, n)       // a adds the new users…
		addRange(t, b, total/2, n*3/4) // …b adds some of them again
		total = n
		checkCount(t, b, n)
		checkCount(t, a, n)
	}
	changed, err := a.Add(context.Background(), "u5")
	if err != nil || changed {
		t.Fatalf("re-adding a counted user changed the registers: %v %v", changed, err)
	}
	if err := a.Clear(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Count(context.Background()); n != 0 {
		t.Fatalf("count after Clear: %d", n)
	}
}

func TestHyperLogLogMerge(t *testing.T) {
	ctx := context.Background()
	c, prefix := testenv.RedisClient(t), testenv.Prefix(t)
	web, mobile, never := newHLL(t, c, prefix, "web"), newHLL(t, c, prefix, "mobile"), newHLL(t, c, prefix, "never")
	addRange(t, web, 0, 30_000)
	addRange(t, mobile, 20_000, 50_000)
	before, _ := mobile.Count(ctx)
	total := newHLL(t, c, prefix, "total")
	if err := total.Merge(ctx, web, mobile, never, total); err != nil {
		t.Fatal(err)
	}
	checkCount(t, total, 50_000)
	if after, _ := mobile.Count(ctx); after != before {
		t.Fatal("Merge modified a source")
	}
	if err := total.Merge(ctx); err != nil {
		t.Fatal(err)
	}
	if err := total.Merge(ctx, never); err != nil {
		t.Fatal(err)
	}
	checkCount(t, total, 50_000)
	if err := total.Merge(ctx, nil); !errors.Is(err, sketch.ErrInvalidParameter) {
		t.Fatalf("merge of nil: %v", err)
	}
	// A source that is not a HyperLogLog is Redis's error, not a silent skip.
	bogus := newHLL(t, c, prefix, "bogus")
	if err := c.Set(ctx, bogus.Key(), "not an hll", 0).Err(); err != nil {
		t.Fatal(err)
	}
	extra := newHLL(t, c, prefix, "extra")
	addRange(t, extra, 50_000, 60_000)
	if err := total.Merge(ctx, extra, bogus); err == nil {
		t.Fatal("merge of a non-HyperLogLog string succeeded")
	} else {
		t.Log(err)
	}
	checkCount(t, total, 50_000) // nothing merged, not even extra
	if n, _ := c.Exists(ctx, strings.TrimSuffix(total.Key(), ":hll")+":hll:merge").Result(); n != 0 {
		t.Fatal("failed merge left its scratch key behind")
	}
}

func TestHyperLogLogBadInputAndRedisErrors(t *testing.T) {
	ctx := context.Background()
	c, prefix := testenv.RedisClient(t), testenv.Prefix(t)
	if _, err := redissketch.NewHyperLogLog(nil, "x", nil); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := redissketch.NewHyperLogLog(c, "", nil); !errors.Is(err, sketch.ErrInvalidParameter) {
		t.Errorf("empty name: %v", err)
	}
	def, _ := redissketch.NewHyperLogLog(c, "x", nil)
	if def.Key() != redissketch.DefaultPrefix+"{x}:hll" {
		t.Errorf("default key %q", def.Key())
	}
	h := newHLL(t, c, prefix, "list")
	if err := c.LPush(ctx, h.Key(), "x").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Add(ctx, "a"); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Add on a list: %v", err)
	}
	if _, err := h.Count(ctx); err == nil {
		t.Fatal("Count on a list succeeded")
	}
}

// On Redis Cluster, counters with different names live in different hash
// slots, which PFMERGE alone rejects (CROSSSLOT); Merge still works, and
// the Bloom filter's keys share a slot.
func TestClusterCrossSlot(t *testing.T) {
	ctx := context.Background()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{testenv.NewRedis(t, &testenv.RedisOptions{Cluster: true}).Addr}})
	t.Cleanup(func() { _ = c.Close() })
	a, b, sum := newHLL(t, c, "t:", "a"), newHLL(t, c, "t:", "b"), newHLL(t, c, "t:", "sum")
	slotA, _ := c.ClusterKeySlot(ctx, a.Key()).Result()
	slotB, _ := c.ClusterKeySlot(ctx, b.Key()).Result()
	if slotA == slotB {
		t.Fatalf("test needs keys in different slots, both in %d", slotA)
	}
	if err := c.PFMerge(ctx, sum.Key(), a.Key(), b.Key()).Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("plain PFMERGE across slots: %v (want CROSSSLOT)", err)
	}
	addRange(t, a, 0, 5000)
	addRange(t, b, 2500, 7500)
	if err := sum.Merge(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	checkCount(t, sum, 7500)

	f, err := redissketch.NewBloom(c, "names", 1000, 0.01, &redissketch.Options{KeyPrefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.AddMany(ctx, [][]byte{[]byte("a"), []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.TestString(ctx, "b"); err != nil || !ok {
		t.Fatalf("Test on cluster: %v %v", ok, err)
	}
	local, _ := sketch.NewBloom(1000, 0.01)
	local.AddString("c")
	if err := f.Merge(ctx, local); err != nil {
		t.Fatal(err)
	}
	snap, err := f.Snapshot(ctx)
	if err != nil || !snap.TestString("a") || !snap.TestString("c") {
		t.Fatalf("snapshot on cluster: %v", err)
	}
	if err := f.Expire(ctx, time.Hour); err != nil {
		t.Fatalf("expire on cluster: %v", err)
	}
	if err := sum.Expire(ctx, time.Hour); err != nil {
		t.Fatalf("expire on cluster: %v", err)
	}
}

func TestExpire(t *testing.T) {
	ctx := context.Background()
	c, prefix := testenv.RedisClient(t), testenv.Prefix(t)
	h := newHLL(t, c, prefix, "daily")
	_, _ = h.Add(ctx, "u1")
	if err := h.Expire(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := c.TTL(ctx, h.Key()).Result(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL of the counter %v, want about 1h", ttl)
	}
	f := newBloom(t, c, prefix, "daily", 100, 0.01)
	_ = f.AddString(ctx, "x")
	if err := f.Expire(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{f.Key(), f.Key() + ":shape"} {
		if ttl, _ := c.TTL(ctx, k).Result(); ttl <= 59*time.Minute || ttl > time.Hour {
			t.Fatalf("TTL of %s %v, want about 1h", k, ttl)
		}
	}
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := h.Expire(ctx, ttl); !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("HyperLogLog.Expire(%v): %v", ttl, err)
		}
		if err := f.Expire(ctx, ttl); !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("Bloom.Expire(%v): %v", ttl, err)
		}
	}
	// A short real TTL: the filter disappears (polling with a deadline).
	if err := f.Expire(ctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := c.Exists(ctx, f.Key(), f.Key()+":shape").Result()
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("filter still there 5s after a 50ms TTL (%d keys, %v)", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
