package cache_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/clock"
)

var ctx = context.Background()

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newCache(t *testing.T, clk clock.Clock, o *cache.Options[string, int]) *cache.Cache[string, int] {
	t.Helper()
	s, err := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 1000, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	var opts cache.Options[string, int]
	if o != nil {
		opts = *o
	}
	opts.Clock = clk
	c, err := cache.NewLocal(s, &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(ctx) })
	return c
}

// countingLoader returns n (incremented on each call) and counts calls.
type countingLoader struct {
	calls atomic.Int32
	err   atomic.Pointer[error]
}

func (l *countingLoader) load(context.Context, string) (int, error) {
	n := int(l.calls.Add(1))
	if p := l.err.Load(); p != nil {
		return 0, *p
	}
	return n * 10, nil
}

func (l *countingLoader) fail(err error) { l.err.Store(&err) }

func mustGet(t *testing.T, c *cache.Cache[string, int], l *countingLoader, want int) {
	t.Helper()
	v, err := c.GetOrLoad(ctx, "k", l.load)
	if err != nil || v != want {
		t.Fatalf("GetOrLoad = %d, %v; want %d", v, err, want)
	}
}

func TestCacheAside(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, &cache.Options[string, int]{TTL: time.Minute})
	if _, ok, err := c.Get(ctx, "k"); ok || err != nil {
		t.Fatalf("Get on empty = %v, %v", ok, err)
	}
	if err := c.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := c.Get(ctx, "k"); !ok || v != 1 {
		t.Fatalf("Get = %d, %v", v, ok)
	}
	clk.Advance(time.Minute)
	if _, ok, _ := c.Get(ctx, "k"); ok {
		t.Fatal("entry still served after its TTL")
	}
	if err := c.SetMulti(ctx, map[string]int{"a": 1, "b": 2}); err != nil {
		t.Fatal(err)
	}
	got, _ := c.GetMulti(ctx, []string{"a", "b", "c"})
	if len(got) != 2 || got["b"] != 2 {
		t.Fatalf("GetMulti = %v", got)
	}
	_ = c.Delete(ctx, "a")
	if _, ok, _ := c.Get(ctx, "a"); ok {
		t.Fatal("Get after Delete hit")
	}
	st := c.Stats()
	if st.Hits != 3 || st.Misses != 4 || st.HitRatio() != 3.0/7 {
		t.Fatalf("stats = %+v, want 3 hits and 4 misses", st)
	}
}

func TestReadThroughCachesAndExpires(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, &cache.Options[string, int]{TTL: time.Minute})
	var l countingLoader
	mustGet(t, c, &l, 10)
	mustGet(t, c, &l, 10)
	clk.Advance(time.Minute)
	mustGet(t, c, &l, 20)
	if n := l.calls.Load(); n != 2 {
		t.Fatalf("loader ran %d times, want 2", n)
	}
	boom := errors.New("boom")
	l.fail(boom)
	clk.Advance(time.Minute)
	if _, err := c.GetOrLoad(ctx, "k", l.load); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the loader's error", err)
	}
	if st := c.Stats(); st.Loads != 3 || st.LoadErrors != 1 {
		t.Fatalf("stats = %+v, want 3 loads, 1 error", st)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, &cache.Options[string, int]{TTL: time.Minute, StaleWhileRevalidate: time.Minute})
	var l countingLoader
	mustGet(t, c, &l, 10)
	clk.Advance(90 * time.Second) // stale, inside the window
	mustGet(t, c, &l, 10)         // served stale at once
	c.Wait()                      // the background reload
	if n := l.calls.Load(); n != 2 {
		t.Fatalf("loader ran %d times, want one background reload", n)
	}
	mustGet(t, c, &l, 20)
	clk.Advance(3 * time.Minute) // past TTL + window: synchronous load
	mustGet(t, c, &l, 30)
	if st := c.Stats(); st.StaleHits != 1 {
		t.Fatalf("StaleHits = %d, want 1", st.StaleHits)
	}
}

func TestStaleIfError(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, &cache.Options[string, int]{TTL: time.Minute, StaleIfError: time.Hour})
	var l countingLoader
	mustGet(t, c, &l, 10)
	l.fail(errors.New("source down"))
	clk.Advance(30 * time.Minute)
	mustGet(t, c, &l, 10) // reload failed: stale value instead of the error
	clk.Advance(time.Hour)
	if _, err := c.GetOrLoad(ctx, "k", l.load); err == nil {
		t.Fatal("past the stale-if-error window the loader's error must surface")
	}
}

func TestRefreshAheadOncePerKey(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, &cache.Options[string, int]{TTL: 100 * time.Second, RefreshAhead: 0.8})
	var l countingLoader
	mustGet(t, c, &l, 10)
	clk.Advance(50 * time.Second) // before 80%: no refresh
	mustGet(t, c, &l, 10)
	c.Wait()
	if n := l.calls.Load(); n != 1 {
		t.Fatalf("refresh before the threshold: %d loads", n)
	}
	// Past 80%: reads keep returning the current value; one refresh runs.
	clk.Advance(35 * time.Second)
	block := make(chan struct{})
	var slow atomic.Int32
	slowLoader := func(ctx context.Context, k string) (int, error) {
		slow.Add(1)
		<-block
		return 99, nil
	}
	for range 20 {
		if v, err := c.GetOrLoad(ctx, "k", slowLoader); v != 10 || err != nil {
			t.Fatalf("read during refresh = %d, %v; want the current value", v, err)
		}
	}
	close(block)
	c.Wait()
	if n := slow.Load(); n != 1 {
		t.Fatalf("20 reads past the threshold started %d refreshes, want 1", n)
	}
	if v, _, _ := c.Get(ctx, "k"); v != 99 {
		t.Fatalf("after refresh Get = %d, want 99", v)
	}
	clk.Advance(90 * time.Second) // the refresh restarted the TTL: still fresh
	if _, ok, _ := c.Get(ctx, "k"); !ok {
		t.Fatal("refreshed entry expired on its old schedule")
	}
}

func TestXFetchRefreshesEarlyNearExpiry(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, &cache.Options[string, int]{TTL: 100 * time.Second, EarlyExpiration: 1})
	// A loader that takes 10s (on the fake clock) gives delta = 10s.
	slow := func(ctx context.Context, k string) (int, error) {
		clk.Advance(10 * time.Second)
		return 1, nil
	}
	// One read per key at a given distance from its expiry; count how many
	// reads trigger an early background reload.
	trial := func(name string, left time.Duration) int32 {
		var l countingLoader
		for i := range 100 {
			k := name + string(rune('a'+i%26)) + string(rune('a'+i/26))
			if _, err := c.GetOrLoad(ctx, k, slow); err != nil {
				t.Fatal(err)
			}
			clk.Advance(100*time.Second - left)
			_, _ = c.GetOrLoad(ctx, k, l.load)
			c.Wait()
		}
		return l.calls.Load()
	}
	// 90s left, delta 10s: needs -ln(r) >= 9, probability e^-9 per read.
	far := trial("far", 90*time.Second)
	// 1s left: probability e^-0.1 ≈ 0.9 per read.
	near := trial("near", time.Second)
	if far > 2 || near < 70 {
		t.Fatalf("XFetch early reloads out of 100 reads: %d with 90s left, %d with 1s left; want ~0 and ~90", far, near)
	}
}

func TestJitterSpreadsTTL(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, &cache.Options[string, int]{TTL: 100 * time.Second, Jitter: 0.2})
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = string(rune('a'+i%26)) + string(rune('A'+i/26))
		_ = c.Set(ctx, keys[i], i)
	}
	alive := func() int {
		m, _ := c.GetMulti(ctx, keys)
		return len(m)
	}
	clk.Advance(79 * time.Second)
	if n := alive(); n != len(keys) {
		t.Fatalf("%d of %d alive before 0.8×TTL; jitter went below its bound", n, len(keys))
	}
	clk.Advance(20 * time.Second) // 99s
	mid := alive()
	clk.Advance(22 * time.Second) // 121s
	if n := alive(); n != 0 {
		t.Fatalf("%d alive after 1.2×TTL; jitter went above its bound", n)
	}
	if mid == 0 || mid == len(keys) {
		t.Fatalf("at TTL %d of %d alive: expiries are not spread", mid, len(keys))
	}
}

func TestNegativeCachingOwnTTL(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newCache(t, clk, &cache.Options[string, int]{TTL: time.Hour, NegativeTTL: 10 * time.Second})
	var l countingLoader
	l.fail(cache.ErrNotFound)
	for range 3 {
		if _, err := c.GetOrLoad(ctx, "k", l.load); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := l.calls.Load(); n != 1 {
		t.Fatalf("loader ran %d times in the negative TTL, want 1", n)
	}
	clk.Advance(10 * time.Second)
	_, _ = c.GetOrLoad(ctx, "k", l.load)
	if n := l.calls.Load(); n != 2 {
		t.Fatalf("negative entry outlived NegativeTTL (loads %d)", n)
	}
	if st := c.Stats(); st.NegativeHits != 2 {
		t.Fatalf("NegativeHits = %d, want 2", st.NegativeHits)
	}
}

func TestGuardSkipsStoreAndLoader(t *testing.T) {
	known := map[string]bool{"exists": true}
	c := newCache(t, clock.NewFake(t0), &cache.Options[string, int]{Guard: func(k string) bool { return known[k] }})
	var l countingLoader
	if _, err := c.GetOrLoad(ctx, "ghost", l.load); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("guarded miss: err %v, want ErrNotFound", err)
	}
	if l.calls.Load() != 0 {
		t.Fatal("loader ran for a key the guard rejected")
	}
	if v, err := c.GetOrLoad(ctx, "exists", l.load); err != nil || v != 10 {
		t.Fatalf("allowed key = %d, %v", v, err)
	}
	if st := c.Stats(); st.GuardRejects != 1 {
		t.Fatalf("GuardRejects = %d", st.GuardRejects)
	}
}

func TestWriteThroughAndAround(t *testing.T) {
	c := newCache(t, clock.NewFake(t0), nil)
	db := map[string]int{}
	write := func(_ context.Context, k string, v int) error { db[k] = v; return nil }
	if err := c.WriteThrough(ctx, "k", 5, write); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := c.Get(ctx, "k"); !ok || v != 5 || db["k"] != 5 {
		t.Fatalf("write-through: cache %d/%v, db %d", v, ok, db["k"])
	}
	if err := c.WriteAround(ctx, "k", 6, write); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(ctx, "k"); ok || db["k"] != 6 {
		t.Fatalf("write-around must invalidate the cache and write the db (db %d)", db["k"])
	}
	failing := func(context.Context, string, int) error { return errors.New("db down") }
	if err := c.WriteThrough(ctx, "x", 1, failing); err == nil {
		t.Fatal("write-through hid the source error")
	}
	if _, ok, _ := c.Get(ctx, "x"); ok {
		t.Fatal("write-through cached a value the source rejected")
	}
	if err := c.WriteThrough(ctx, "x", 1, nil); !errors.Is(err, cache.ErrNilLoader) {
		t.Fatalf("nil writer: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	s, _ := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 10})
	bad := []cache.Options[string, int]{
		{TTL: -1}, {NegativeTTL: -1}, {StaleIfError: -1}, {StaleWhileRevalidate: -1},
		{Jitter: 1}, {Jitter: -0.1}, {RefreshAhead: 1.5}, {RefreshAhead: 0.5}, {EarlyExpiration: -1},
	}
	for _, o := range bad {
		if _, err := cache.NewLocal(s, &o); !errors.Is(err, cache.ErrInvalidTTL) {
			t.Errorf("NewLocal(%+v) err = %v, want ErrInvalidTTL", o, err)
		}
	}
	if _, err := cache.NewLocal[string, int](nil, nil); err == nil {
		t.Error("NewLocal(nil store) accepted")
	}
	if _, err := cache.NewRemote[string, int](nil, nil); err == nil {
		t.Error("NewRemote(nil store) accepted")
	}
	c := newCache(t, nil, nil)
	if err := c.SetTTL(ctx, "k", 1, -time.Second); !errors.Is(err, cache.ErrInvalidTTL) {
		t.Errorf("negative TTL: %v", err)
	}
	_ = c.Close(ctx)
	if err := c.Set(ctx, "k", 1); !errors.Is(err, cache.ErrClosed) {
		t.Errorf("Set after Close: %v", err)
	}
}

// textCodec is a custom Codec: values are stored as decimal text.
type textCodec struct{}

func (textCodec) Marshal(v int) ([]byte, error) { return []byte(strconv.Itoa(v)), nil }
func (textCodec) Unmarshal(b []byte, v *int) error {
	n, err := strconv.Atoi(string(b))
	*v = n
	return err
}

func TestRemoteWithCustomCodec(t *testing.T) {
	store, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 10})
	c, err := cache.NewRemote(store, &cache.Options[string, int]{Codec: textCodec{}, Prefix: "n:"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	_ = c.Set(ctx, "k", 1234)
	raw, ok, _ := store.Get(ctx, "n:k")
	if !ok || !strings.HasSuffix(string(raw), "1234") {
		t.Fatalf("stored bytes %q do not end in the codec's encoding", raw)
	}
	if v, ok, _ := c.Get(ctx, "k"); !ok || v != 1234 {
		t.Fatalf("Get = %d, %v", v, ok)
	}
	_ = store.Set(ctx, "n:bad", []byte("garbage"), 0)
	if _, _, err := c.Get(ctx, "bad"); !errors.Is(err, cache.ErrCorrupt) {
		t.Fatalf("corrupt entry: err %v, want ErrCorrupt", err)
	}
}

func TestCancelledContextUnwrapped(t *testing.T) {
	store, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxEntries: 10})
	c, _ := cache.NewRemote[string, int](store, nil)
	defer c.Close(ctx)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := c.Get(cctx, "k"); err != context.Canceled {
		t.Fatalf("Get: %v, want context.Canceled unwrapped", err)
	}
	if err := c.Set(cctx, "k", 1); err != context.Canceled {
		t.Fatalf("Set: %v, want context.Canceled unwrapped", err)
	}
}

func TestWarmPreloads(t *testing.T) {
	c := newCache(t, clock.NewFake(t0), &cache.Options[string, int]{NegativeTTL: time.Minute})
	load := func(_ context.Context, k string) (int, error) {
		switch k {
		case "missing":
			return 0, cache.ErrNotFound
		case "broken":
			return 0, errors.New("boom")
		}
		return len(k), nil
	}
	err := c.Warm(ctx, []string{"a", "bb", "missing", "broken"}, load)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Warm err = %v, want the broken key's error only", err)
	}
	got, _ := c.GetMulti(ctx, []string{"a", "bb"})
	if got["a"] != 1 || got["bb"] != 2 {
		t.Fatalf("warmed values %v", got)
	}
	if err := c.Warm(ctx, nil, nil); !errors.Is(err, cache.ErrNilLoader) {
		t.Fatalf("nil loader: %v", err)
	}
}
