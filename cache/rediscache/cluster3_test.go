package rediscache_test

import (
	"context"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/cache/rediscache"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

// rediscache sends one command per key (multi-key calls are pipelines of
// single-key commands), so prefixes and keys with braces, which scatter
// keys over the slots of a three-master Cluster, must all work: remote and
// tiered caches, single and multi-key calls, and invalidation over pub/sub.
func TestHashTagsOnThreeMasterCluster(t *testing.T) {
	c := testenv.NewRedisCluster(t, 3).Client(t)
	ctx := context.Background()
	keys := []string{"plain", "}k", "{", "{}", "a{b}c", "x{y", "z}"}
	for _, prefix := range []string{"", "app:", "{}", "app{", "{app}:", "a}{b"} {
		store, err := rediscache.New(c, &rediscache.Options{Channel: prefix + "inv"})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := cache.NewRemote(store, &cache.Options[string, int]{Prefix: prefix, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		l1, _ := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 100})
		tc, err := cache.OpenTiered(ctx, l1, store, &cache.Options[string, int]{Prefix: prefix, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		values := map[string]int{}
		for i, k := range keys {
			values[k] = i
		}
		if err := rc.SetMulti(ctx, values); err != nil {
			t.Fatalf("prefix %q: SetMulti: %v", prefix, err)
		}
		got, err := tc.GetMulti(ctx, keys)
		if err != nil || len(got) != len(keys) {
			t.Fatalf("prefix %q: GetMulti = %v, %v", prefix, got, err)
		}
		for _, k := range keys {
			if err := tc.Set(ctx, k, 100); err != nil {
				t.Fatalf("prefix %q key %q: Set: %v", prefix, k, err)
			}
			if v, ok, err := rc.Get(ctx, k); err != nil || !ok || v != 100 {
				t.Fatalf("prefix %q key %q: Get = %d, %v, %v", prefix, k, v, ok, err)
			}
		}
		if err := tc.Delete(ctx, keys...); err != nil {
			t.Fatalf("prefix %q: Delete: %v", prefix, err)
		}
		_ = tc.Close(ctx)
		_ = rc.Close(ctx)
	}
}
