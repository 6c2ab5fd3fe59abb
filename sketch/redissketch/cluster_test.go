package redissketch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/sketch"
	"github.com/scalekit-go/scalekit/sketch/redissketch"
)

// Names with braces of their own, and prefixes with or without a hash tag,
// must work on a real Redis Cluster of three masters: every key of one
// sketch must share a hash slot, or the scripts fail with CROSSSLOT. A
// prefix whose hash tag is empty ("{}") would hash each key apart and is
// refused.
func TestHashTagsOnThreeMasterCluster(t *testing.T) {
	c := testenv.NewRedisCluster(t, 3).Client(t)
	ctx := context.Background()
	names := []string{"plain", "}starts", "{", "}", "{}", "a{b}c", "a}b{c", "x{}"}
	prefixes := []string{"", "app:", "app{", "app}", "{app}:", "a}{b"}
	for _, p := range prefixes {
		for _, name := range names {
			opts := &redissketch.Options{KeyPrefix: p}
			b, err := redissketch.NewBloom(c, name, 1000, 0.01, opts)
			if err != nil {
				t.Fatalf("prefix %q name %q: NewBloom: %v", p, name, err)
			}
			if err := b.AddString(ctx, "x"); err != nil {
				t.Fatalf("prefix %q name %q: Bloom.Add: %v", p, name, err)
			}
			if ok, err := b.TestString(ctx, "x"); err != nil || !ok {
				t.Fatalf("prefix %q name %q: Bloom.Test = %v, %v", p, name, ok, err)
			}
			local, err := sketch.NewBloomWithSize(b.Bits(), b.Hashes())
			if err != nil {
				t.Fatal(err)
			}
			local.AddString("y")
			if err := b.Merge(ctx, local); err != nil {
				t.Fatalf("prefix %q name %q: Bloom.Merge: %v", p, name, err)
			}
			if err := b.Expire(ctx, time.Hour); err != nil {
				t.Fatalf("prefix %q name %q: Bloom.Expire: %v", p, name, err)
			}
			h, err := redissketch.NewHyperLogLog(c, name, opts)
			if err != nil {
				t.Fatalf("prefix %q name %q: NewHyperLogLog: %v", p, name, err)
			}
			if _, err := h.Add(ctx, "x", "y"); err != nil {
				t.Fatalf("prefix %q name %q: HyperLogLog.Add: %v", p, name, err)
			}
			h2, _ := redissketch.NewHyperLogLog(c, name+"-2", opts)
			if _, err := h2.Add(ctx, "z"); err != nil {
				t.Fatal(err)
			}
			if err := h.Merge(ctx, h2); err != nil {
				t.Fatalf("prefix %q name %q: HyperLogLog.Merge: %v", p, name, err)
			}
			if n, err := h.Count(ctx); err != nil || n != 3 {
				t.Fatalf("prefix %q name %q: HyperLogLog.Count = %d, %v", p, name, n, err)
			}
		}
	}
	for _, p := range []string{"{}", "app{}:", "{}{x}"} {
		_, err := redissketch.NewBloom(c, "n", 1000, 0.01, &redissketch.Options{KeyPrefix: p})
		if !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("prefix %q (empty hash tag): NewBloom = %v, want ErrInvalidParameter", p, err)
		}
		_, err = redissketch.NewHyperLogLog(c, "n", &redissketch.Options{KeyPrefix: p})
		if !errors.Is(err, sketch.ErrInvalidParameter) {
			t.Errorf("prefix %q (empty hash tag): NewHyperLogLog = %v, want ErrInvalidParameter", p, err)
		}
	}
}

// HyperLogLog.Expire keeps millisecond precision, like Bloom.Expire (it
// used to truncate to whole seconds: 1.5s became 1s, 999ms failed).
func TestHyperLogLogExpireMilliseconds(t *testing.T) {
	c := testenv.RedisClient(t)
	ctx := context.Background()
	h, err := redissketch.NewHyperLogLog(c, "ttl", &redissketch.Options{KeyPrefix: testenv.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Add(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := h.Expire(ctx, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if pttl := c.PTTL(ctx, h.Key()).Val(); pttl <= time.Second || pttl > 1500*time.Millisecond {
		t.Fatalf("PTTL after Expire(1.5s) = %v", pttl)
	}
	if err := h.Expire(ctx, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if pttl := c.PTTL(ctx, h.Key()).Val(); pttl <= 0 || pttl > 300*time.Millisecond {
		t.Fatalf("PTTL after Expire(300ms) = %v", pttl)
	}
}
