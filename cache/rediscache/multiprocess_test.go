package rediscache_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/cache/rediscache"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

func openTiered(t *testing.T, url, channel, prefix string) *cache.Cache[string, int] {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	l2, err := rediscache.New(rdb, &rediscache.Options{Channel: channel})
	if err != nil {
		t.Fatal(err)
	}
	l1, err := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	// L1 keeps entries for an hour: only an invalidation message can make
	// an instance see another's write within the test.
	c, err := cache.OpenTiered(context.Background(), l1, l2, &cache.Options[string, int]{Prefix: prefix, L1TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// The child process is the second instance: it fills its L1, then waits
// for the parent's write and delete to reach it through Redis pub/sub.
func runTieredChild(t *testing.T) {
	ctx := context.Background()
	c := openTiered(t, os.Getenv("TIER_URL"), os.Getenv("TIER_CHANNEL"), os.Getenv("TIER_PREFIX"))
	in := bufio.NewScanner(os.Stdin)
	wait := func(what string, cond func(v int, ok bool) bool) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			v, ok, err := c.Get(ctx, "k")
			if err == nil && cond(v, ok) {
				fmt.Printf("CHILD:%s\n", what)
				return
			}
			if time.Now().After(deadline) {
				fmt.Printf("CHILD:timeout %s (last %d %v %v)\n", what, v, ok, err)
				os.Exit(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("has1", func(v int, ok bool) bool { return ok && v == 1 })
	in.Scan()
	wait("has2", func(v int, ok bool) bool { return ok && v == 2 })
	in.Scan()
	wait("gone", func(_ int, ok bool) bool { return !ok })
}

func TestTieredInvalidationAcrossProcesses(t *testing.T) {
	if testenv.ChildRole() == "tier" {
		runTieredChild(t)
		return
	}
	ctx := context.Background()
	url := testenv.RedisURL(t)
	prefix := testenv.Prefix(t)
	channel := prefix + "invalidate"
	a := openTiered(t, url, channel, prefix)
	if err := a.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	cmd := testenv.Child(t, "TestTieredInvalidationAcrossProcesses", "tier",
		"TIER_URL="+url, "TIER_CHANNEL="+channel, "TIER_PREFIX="+prefix)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	testenv.StartChild(t, cmd)
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "CHILD:"); ok {
				lines <- l
			}
		}
		close(lines)
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got, ok := <-lines:
			if !ok || got != want {
				t.Fatalf("child reported %q (open %v), want %q", got, ok, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("child did not report %q", want)
		}
	}
	expect("has1") // the child's L1 now holds k=1
	if err := a.Set(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(stdin, "next\n")
	expect("has2")
	if err := a.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(stdin, "next\n")
	expect("gone")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child failed: %v", err)
	}
}
