package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestRedisClusterThreeMasters(t *testing.T) {
	rc := NewRedisCluster(t, 3)
	c := rc.Client(t)
	ctx := context.Background()
	// Keys land on every master; a multi-key command across slots is
	// refused.
	masters := map[string]bool{}
	for i := range 30 {
		k := fmt.Sprint("key", i)
		if err := c.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		cl, err := c.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		masters[cl.Options().Addr] = true
	}
	if len(masters) != 3 {
		t.Fatalf("keys landed on %d masters, want 3", len(masters))
	}
	err := c.Do(ctx, "MSET", "a", 1, "b", 2).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MSET across slots = %v, want CROSSSLOT", err)
	}
}
