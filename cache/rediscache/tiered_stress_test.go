package rediscache_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/cache"
	"github.com/scalekit-go/scalekit/cache/memorycache"
	"github.com/scalekit-go/scalekit/cache/rediscache"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

const (
	stressProcs     = 3
	stressOwnKeys   = 6 // keys with one writer (the owning process)
	stressShared    = 4 // keys every process writes
	stressRun       = 2 * time.Second
	stressBound     = time.Second // invalidation delivery bound across processes
	stressConverge  = 5 * time.Second
	stressEnvPrefix = "STRESS_"
)

func ownKey(p, i int) string { return fmt.Sprintf("own-%d-%d", p, i) }
func sharedKey(i int) string { return fmt.Sprintf("shared-%d", i) }

// runStressChild is one instance: a writer goroutine that writes
// increasing versions of its own keys (and of the shared keys), and
// readers that read every process's keys. After each completed Set of an
// own key the writer records the version under "ver:<key>" in Redis. A
// reader that saw version x there must read at least x from the cache:
// at once on the writer's own instance, and once stressBound has passed on
// the others. When the parent says so (all writers stopped), the instance
// checks that every shared key converges to what L2 holds.
func runStressChild(t *testing.T) {
	ctx := context.Background()
	url, prefix := os.Getenv(stressEnvPrefix+"URL"), os.Getenv(stressEnvPrefix+"PREFIX")
	me, _ := strconv.Atoi(os.Getenv(stressEnvPrefix + "ID"))
	opt, _ := redis.ParseURL(url)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	store, err := rediscache.New(rdb, &rediscache.Options{Channel: prefix + "invalidate"})
	if err != nil {
		t.Fatal(err)
	}
	// A tiny L1 with a long L1TTL: reads miss often (so they race writes
	// on their way to L2), and a stale copy would stay for the whole run.
	l1, err := memorycache.New(&memorycache.Options[string, cache.Entry[int]]{MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.OpenTiered(ctx, l1, store, &cache.Options[string, int]{Prefix: prefix, L1TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	l2, err := cache.NewRemote(store, &cache.Options[string, int]{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}

	var stale, reads, writes int64
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		fmt.Printf("CHILD:error "+format+"\n", args...)
		os.Exit(1)
	}
	stop := time.Now().Add(stressRun)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		for v := 1; time.Now().Before(stop); v++ {
			for i := range stressOwnKeys {
				k := ownKey(me, i)
				if err := c.Set(ctx, k, v); err != nil {
					fail("set %s: %v", k, err)
				}
				if err := rdb.Set(ctx, prefix+"ver:"+k, v, 0).Err(); err != nil {
					fail("set ver: %v", err)
				}
			}
			for i := range stressShared {
				k := sharedKey(i)
				if err := c.Set(ctx, k, me*1_000_000+v); err != nil {
					fail("set %s: %v", k, err)
				}
			}
			mu.Lock()
			writes++
			mu.Unlock()
		}
	}()
	for range 2 { // readers
		wg.Add(1)
		go func() {
			defer wg.Done()
			type pending struct {
				at time.Time
				v  int
			}
			floor := map[string]int{}
			queue := map[string][]pending{}
			for time.Now().Before(stop) {
				for p := range stressProcs {
					for i := range stressOwnKeys {
						k := ownKey(p, i)
						now := time.Now()
						q := queue[k]
						for len(q) > 0 && !q[0].at.After(now) {
							floor[k] = max(floor[k], q[0].v)
							q = q[1:]
						}
						queue[k] = q
						x, err := rdb.Get(ctx, prefix+"ver:"+k).Int()
						if err != nil && !errors.Is(err, redis.Nil) {
							fail("get ver: %v", err)
						}
						if p == me {
							floor[k] = max(floor[k], x) // own writes: visible at once
						}
						v, _, err := c.Get(ctx, k)
						if err != nil {
							fail("get %s: %v", k, err)
						}
						mu.Lock()
						reads++
						if v < floor[k] {
							stale++
							if stale <= 5 {
								fmt.Printf("CHILD:log stale %s: read %d after %d was visible\n", k, v, floor[k])
							}
						}
						mu.Unlock()
						if p != me {
							queue[k] = append(queue[k], pending{now.Add(stressBound), x})
						}
					}
				}
				for i := range stressShared {
					if _, _, err := c.Get(ctx, sharedKey(i)); err != nil {
						fail("get shared: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("CHILD:done\n")
	in := bufio.NewScanner(os.Stdin)
	in.Scan() // every writer has stopped
	diverged := 0
	for i := range stressShared {
		k := sharedKey(i)
		deadline := time.Now().Add(stressConverge)
		for {
			raw, _, err := l2.Get(ctx, k) // what L2 holds
			if err != nil {
				fail("raw %s: %v", k, err)
			}
			v, _, err := c.Get(ctx, k)
			if err == nil && v == raw {
				break
			}
			if time.Now().After(deadline) {
				fmt.Printf("CHILD:log shared %s: instance reads %d, L2 holds %d\n", k, v, raw)
				diverged++
				break
			}
			time.Sleep(10 * time.Millisecond) // poll with a deadline
		}
	}
	fmt.Printf("CHILD:result %d %d %d %d\n", stale, reads, writes, diverged)
}

// TestTieredStressAcrossProcesses runs readers and writers in several OS
// processes sharing one Redis and asserts that no read returns a value
// overwritten more than the invalidation bound ago (at once on the
// writer's own instance), and that concurrent writers of one key leave
// every instance agreeing with L2.
func TestTieredStressAcrossProcesses(t *testing.T) {
	if testenv.ChildRole() == "stress" {
		runStressChild(t)
		return
	}
	url := testenv.RedisURL(t)
	prefix := testenv.Prefix(t)
	type child struct {
		stdin io.WriteCloser
		lines chan string
		wait  func() error
	}
	var kids []child
	for p := range stressProcs {
		cmd := testenv.Child(t, "TestTieredStressAcrossProcesses", "stress",
			stressEnvPrefix+"URL="+url, stressEnvPrefix+"PREFIX="+prefix, stressEnvPrefix+"ID="+strconv.Itoa(p))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		testenv.StartChild(t, cmd)
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if l, ok := strings.CutPrefix(sc.Text(), "CHILD:"); ok {
					if m, ok := strings.CutPrefix(l, "log "); ok {
						t.Logf("child %d: %s", p, m)
						continue
					}
					lines <- l
				}
			}
			close(lines)
		}()
		kids = append(kids, child{stdin, lines, cmd.Wait})
	}
	next := func(p int) string {
		select {
		case l, ok := <-kids[p].lines:
			if !ok {
				t.Fatalf("child %d exited early", p)
			}
			if strings.HasPrefix(l, "error") {
				t.Fatalf("child %d: %s", p, l)
			}
			return l
		case <-time.After(60 * time.Second):
			t.Fatalf("child %d silent", p)
		}
		return ""
	}
	for p := range kids {
		if l := next(p); l != "done" {
			t.Fatalf("child %d: %q", p, l)
		}
	}
	for p := range kids {
		_, _ = io.WriteString(kids[p].stdin, "check\n")
	}
	var totalStale, totalReads, totalWrites, totalDiverged int
	for p := range kids {
		var stale, reads, writes, diverged int
		if _, err := fmt.Sscanf(next(p), "result %d %d %d %d", &stale, &reads, &writes, &diverged); err != nil {
			t.Fatalf("child %d result: %v", p, err)
		}
		totalStale += stale
		totalReads += reads
		totalWrites += writes
		totalDiverged += diverged
		if err := kids[p].wait(); err != nil {
			t.Fatalf("child %d: %v", p, err)
		}
	}
	t.Logf("%d processes: %d write rounds, %d checked reads, %d stale, %d diverged shared keys",
		stressProcs, totalWrites, totalReads, totalStale, totalDiverged)
	if totalReads < 100 || totalWrites < 10 {
		t.Fatalf("too little traffic to mean anything: %d reads, %d writes", totalReads, totalWrites)
	}
	if totalStale != 0 || totalDiverged != 0 {
		t.Fatalf("%d stale reads, %d shared keys where an instance disagrees with L2", totalStale, totalDiverged)
	}
}
