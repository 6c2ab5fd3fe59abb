package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/sketch"
)

type User struct {
	ID   int
	Name string
}

var db = map[int]User{1: {1, "ada"}, 2: {2, "grace"}}

func loadUser(_ context.Context, id int) (User, error) {
	u, ok := db[id]
	if !ok {
		return User{}, cache.ErrNotFound
	}
	return u, nil
}

// Cache-aside: the application reads the cache, loads on a miss and fills
// the cache itself.
func Example_cacheAside() {
	ctx := context.Background()
	c, err := cache.NewInMemory[int, User](10_000, &cache.Options[int, User]{TTL: time.Minute})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	u, ok, _ := c.Get(ctx, 1)
	if !ok {
		u, _ = loadUser(ctx, 1)
		_ = c.Set(ctx, 1, u)
	}
	u, ok, _ = c.Get(ctx, 1)
	fmt.Println(u.Name, ok)
	// Output: ada true
}

// Read-through with singleflight and negative caching.
func ExampleCache_GetOrLoad() {
	ctx := context.Background()
	c, err := cache.NewInMemory[int, User](10_000, &cache.Options[int, User]{TTL: time.Minute, NegativeTTL: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	u, err := c.GetOrLoad(ctx, 2, loadUser)
	fmt.Println(u.Name, err)
	_, err = c.GetOrLoad(ctx, 99, loadUser)
	fmt.Println(errors.Is(err, cache.ErrNotFound))
	_, err = c.GetOrLoad(ctx, 99, loadUser) // answered by the negative entry
	st := c.Stats()
	fmt.Println(errors.Is(err, cache.ErrNotFound), st.Loads, st.NegativeHits)
	// Output:
	// grace <nil>
	// true
	// true 2 1
}

// Write-through updates the source, then the cache; write-around updates
// the source and invalidates the cache.
func ExampleCache_WriteThrough() {
	ctx := context.Background()
	c, err := cache.NewInMemory[int, User](10_000, &cache.Options[int, User]{TTL: time.Minute})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	save := func(_ context.Context, id int, u User) error { db[id] = u; return nil }
	_ = c.WriteThrough(ctx, 3, User{3, "linus"}, save)
	u, ok, _ := c.Get(ctx, 3)
	fmt.Println(u.Name, ok)
	_ = c.WriteAround(ctx, 3, User{3, "torvalds"}, save)
	_, ok, _ = c.Get(ctx, 3)
	fmt.Println(ok, db[3].Name)
	// Output:
	// linus true
	// false torvalds
}

// Write-behind: Put updates the cache at once; writes to the source are
// coalesced per key and flushed in batches.
func ExampleNewWriteBehind() {
	ctx := context.Background()
	c, err := cache.NewInMemory[int, User](10_000, &cache.Options[int, User]{})
	if err != nil {
		panic(err)
	}
	flush := func(_ context.Context, batch []cache.Pair[int, User]) error {
		fmt.Println("flushing", len(batch), "writes")
		for _, p := range batch {
			db[p.Key] = p.Value
		}
		return nil
	}
	w, _ := cache.NewWriteBehind(c, flush, &cache.WriteBehindOptions[int, User]{BatchSize: 100, Interval: time.Second})
	_ = w.Put(ctx, 4, User{4, "barbara"})
	_ = w.Put(ctx, 4, User{4, "barbara liskov"}) // coalesced
	_ = w.Put(ctx, 5, User{5, "edsger"})
	fmt.Println(w.Stats().Pending)
	_ = w.Close(ctx) // flushes what is left
	fmt.Println(db[4].Name)
	// Output:
	// 2
	// flushing 2 writes
	// barbara liskov
}

// Stale-while-revalidate serves an expired value at once and reloads it in
// the background; refresh-ahead reloads hot keys before they expire.
func Example_staleWhileRevalidate() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c, err := cache.NewInMemory[int, User](10_000, &cache.Options[int, User]{Clock: clk, TTL: time.Minute, StaleWhileRevalidate: time.Hour, RefreshAhead: 0.9})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	version := 0
	load := func(_ context.Context, id int) (User, error) {
		version++
		return User{id, fmt.Sprint("v", version)}, nil
	}
	u, _ := c.GetOrLoad(ctx, 1, load)
	fmt.Println(u.Name)
	clk.Advance(2 * time.Minute)
	u, _ = c.GetOrLoad(ctx, 1, load) // stale, served at once
	fmt.Println(u.Name)
	c.Wait() // the background reload
	u, _ = c.GetOrLoad(ctx, 1, load)
	fmt.Println(u.Name)
	// Output:
	// v1
	// v1
	// v2
}

// Stale-if-error keeps serving the last good value while the source fails.
func Example_staleIfError() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c, err := cache.NewInMemory[int, User](10_000, &cache.Options[int, User]{Clock: clk, TTL: time.Minute, StaleIfError: time.Hour, Jitter: 0.1})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	_, _ = c.GetOrLoad(ctx, 1, loadUser)
	clk.Advance(5 * time.Minute)
	down := func(context.Context, int) (User, error) { return User{}, errors.New("db down") }
	u, err := c.GetOrLoad(ctx, 1, down)
	fmt.Println(u.Name, err)
	// Output: ada <nil>
}

// A Bloom filter of the ids that exist answers "definitely absent" without
// touching the store or the loader, so lookups of made-up ids never reach
// the database.
func Example_guard() {
	ctx := context.Background()
	ids, _ := sketch.NewBloom(1_000_000, 0.001)
	for id := range db {
		ids.AddString(strconv.Itoa(id)) // at start-up, and on every insert
	}
	c, err := cache.NewInMemory[int, User](10_000, &cache.Options[int, User]{Guard: cache.BloomGuard[int](ids, nil), TTL: time.Minute})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	_, err = c.GetOrLoad(ctx, 404, loadUser)
	fmt.Println(err, c.Stats().GuardRejects, c.Stats().Loads)
	u, err := c.GetOrLoad(ctx, 2, loadUser)
	fmt.Println(u.Name, err)
	// Output:
	// cache: not found 1 0
	// grace <nil>
}

// Hot-key detection: a sketch.TopK counts every read, and HotKeys names
// the keys that take most of the traffic.
func Example_hotKeys() {
	ctx := context.Background()
	hot, _ := sketch.NewTopK(1, nil)
	c, err := cache.NewInMemory[int, User](10_000, &cache.Options[int, User]{HotKeys: hot, TTL: time.Minute})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	for i := range 100 {
		id := 1
		if i%5 == 0 {
			id = 2
		}
		_, _ = c.GetOrLoad(ctx, id, loadUser)
	}
	fmt.Println(c.HotKeys())
	// Output: [{1 80}]
}

// A tiered cache: each instance has an in-process L1 in front of a shared
// L2; a write on one instance clears the key from every L1. Production uses
// rediscache as L2; memorycache.Bytes stands in here.
func ExampleOpenTiered() {
	ctx := context.Background()
	l2, _ := memorycache.NewBytes(&memorycache.BytesOptions{MaxBytes: 64 << 20})
	open := func() *cache.Cache[int, User] {
		l1, _ := memorycache.New(&memorycache.Options[string, cache.Entry[User]]{MaxEntries: 1000})
		c, err := cache.OpenTiered(ctx, l1, l2, &cache.Options[int, User]{TTL: time.Hour, Prefix: "user:"})
		if err != nil {
			panic(err)
		}
		return c
	}
	a, b := open(), open()
	defer a.Close(ctx)
	defer b.Close(ctx)
	_ = a.Set(ctx, 1, User{1, "ada"})
	u, _, _ := b.Get(ctx, 1) // from L2, now also in b's L1
	fmt.Println(u.Name)
	_ = a.Set(ctx, 1, User{1, "ada lovelace"}) // clears b's L1
	u, _, _ = b.Get(ctx, 1)
	fmt.Println(u.Name)
	// Output:
	// ada
	// ada lovelace
}

// Refresh-ahead reloads an entry in the background when it is read after a
// fraction of its TTL, so a hot key never expires under its readers.
func Example_refreshAhead() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c, err := cache.NewInMemory[int, User](10_000, &cache.Options[int, User]{Clock: clk, TTL: 100 * time.Second, RefreshAhead: 0.8})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	version := 0
	load := func(_ context.Context, id int) (User, error) {
		version++
		return User{id, fmt.Sprint("v", version)}, nil
	}
	u, _ := c.GetOrLoad(ctx, 1, load)
	clk.Advance(50 * time.Second) // 50%: nothing happens
	u, _ = c.GetOrLoad(ctx, 1, load)
	fmt.Println(u.Name, c.Stats().Refreshes)
	clk.Advance(35 * time.Second) // 85%: current value now, reload in background
	u, _ = c.GetOrLoad(ctx, 1, load)
	c.Wait()
	fmt.Println(u.Name, c.Stats().Refreshes)
	u, _ = c.GetOrLoad(ctx, 1, load)
	fmt.Println(u.Name)
	// Output:
	// v1 0
	// v1 1
	// v2
}

// XFetch (probabilistic early expiration): the closer an entry is to expiry
// and the slower its last load, the likelier a read reloads it early, so
// reloads of a hot key spread out instead of stampeding at expiry.
// (Options.Jitter does the same for many keys written together.)
func Example_earlyExpiration() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c, err := cache.NewInMemory[int, User](10_000, &cache.Options[int, User]{Clock: clk, TTL: time.Minute, EarlyExpiration: 1})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	slowLoad := func(_ context.Context, id int) (User, error) {
		clk.Advance(5 * time.Second) // the query takes 5s
		return User{id, "ada"}, nil
	}
	_, _ = c.GetOrLoad(ctx, 1, slowLoad)
	clk.Advance(time.Minute - time.Microsecond) // 1µs before expiry: reloads (p ≈ 1 - 2e-7)
	_, _ = c.GetOrLoad(ctx, 1, slowLoad)
	c.Wait()
	fmt.Println(c.Stats().Refreshes, c.Stats().Loads)
	// Output: 1 2
}

// TTL jitter spreads the expiry of entries written together, so they are
// not all reloaded in the same second: with TTL 100s and Jitter 0.2 each
// entry expires between 80s and 120s.
func Example_ttlJitter() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c, err := cache.NewInMemory[int, User](10_000, &cache.Options[int, User]{Clock: clk, TTL: 100 * time.Second, Jitter: 0.2})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	ids := make([]int, 100)
	for i := range ids {
		ids[i] = i
		_ = c.Set(ctx, i, User{ID: i})
	}
	alive := func() int { m, _ := c.GetMulti(ctx, ids); return len(m) }
	clk.Advance(79 * time.Second)
	fmt.Println("after 79s:", alive())
	clk.Advance(21 * time.Second)
	n := alive()
	fmt.Println("after 100s, some expired and some not:", n > 0 && n < 100)
	clk.Advance(21 * time.Second)
	fmt.Println("after 121s:", alive())
	// Output:
	// after 79s: 100
	// after 100s, some expired and some not: true
	// after 121s: 0
}

// A local cache in one call: capacity and options, no store types spelled
// out.
func ExampleNewInMemory() {
	ctx := context.Background()
	products, err := cache.NewInMemory[string, float64](10_000, &cache.Options[string, float64]{TTL: time.Minute})
	if err != nil {
		panic(err)
	}
	defer products.Close(ctx)
	_ = products.Set(ctx, "sku-1", 9.99)
	price, ok, err := products.Get(ctx, "sku-1")
	fmt.Println(price, ok, err)
	// Output:
	// 9.99 true <nil>
}
