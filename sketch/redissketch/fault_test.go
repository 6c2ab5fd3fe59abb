package redissketch_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
)

// While Redis is down every call returns an error (no panic, no silent
// "absent"); once it is back, the filter and the counter are intact
// (appendfsync always) and the clients recover without being recreated.
func TestRedisDownAndBack(t *testing.T) {
	srv := testenv.NewRedis(t, &testenv.RedisOptions{Durable: true})
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1
	opt.DialTimeout = 200 * time.Millisecond
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	f := newBloom(t, c, "fault:", "names", 1000, 0.01)
	h := newHLL(t, c, "fault:", "dau")
	if err := f.AddString(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Add(ctx, "alice", "bob"); err != nil {
		t.Fatal(err)
	}

	srv.Stop(t)
	if ok, err := f.TestString(ctx, "alice"); err == nil {
		t.Fatalf("Test with Redis down = %v, nil error", ok)
	}
	if err := f.AddString(ctx, "carol"); err == nil {
		t.Fatal("Add with Redis down succeeded")
	}
	if _, err := f.Snapshot(ctx); err == nil {
		t.Fatal("Snapshot with Redis down succeeded")
	}
	if n, err := h.Count(ctx); err == nil {
		t.Fatalf("Count with Redis down = %d, nil error", n)
	}

	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := f.TestString(ctx, "alice")
		if err == nil {
			if !ok {
				t.Fatal("alice lost across the restart")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client did not recover: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := h.Count(ctx); err != nil || n != 2 {
		t.Fatalf("Count after restart = %d, %v; want 2", n, err)
	}
	if seen, err := f.TestAndAdd(ctx, []byte("carol")); err != nil || seen {
		t.Fatalf("carol (whose Add failed) after restart: seen=%v err=%v", seen, err)
	}
}
