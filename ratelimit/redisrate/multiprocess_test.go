package redisrate_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/redisrate"
)

// sharedLimits are the limits the processes share: admitted totals are
// checked against their global promise.
var sharedLimits = map[string]ratelimit.Limit{
	"gcra":           {Algorithm: ratelimit.GCRA, Rate: 40, Period: 200 * time.Millisecond, Burst: 10},
	"sliding_window": {Algorithm: ratelimit.SlidingWindow, Rate: 40, Period: 200 * time.Millisecond},
}

const (
	mpProcs = 3
	mpRun   = time.Second
)

// The child hammers the shared limit from 4 goroutines on its own client
// from START (Unix ms) for mpRun and prints how many units it was admitted.
func runLimitChild() {
	lim := sharedLimits[os.Getenv("RL_ALG")]
	start, _ := strconv.ParseInt(os.Getenv("RL_START"), 10, 64)
	opt, err := redis.ParseURL(os.Getenv("RL_URL"))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	l, err := redisrate.New(c, lim, &redisrate.Options{Prefix: os.Getenv("RL_PREFIX")})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	time.Sleep(time.Until(time.UnixMilli(start))) // start together
	end := time.UnixMilli(start).Add(mpRun)
	counts := make(chan int64, 4)
	for g := 0; g < 4; g++ {
		go func() {
			var n int64
			for time.Now().Before(end) {
				d, err := l.Allow(context.Background(), "shared", 1)
				if err != nil {
					fmt.Println("ERR", err)
					os.Exit(1)
				}
				if d.Allowed {
					n++
				}
			}
			counts <- n
		}()
	}
	var total int64
	for g := 0; g < 4; g++ {
		total += <-counts
	}
	fmt.Printf("ADMITTED %d\n", total)
}

// Three processes, each with its own client, share one Redis: together they
// are admitted the global limit, not three times it.
func TestProcessesShareGlobalLimit(t *testing.T) {
	if testenv.ChildRole() == "limit" {
		runLimitChild()
		return
	}
	url := testenv.RedisURL(t)
	for name, lim := range sharedLimits {
		t.Run(name, func(t *testing.T) {
			start := time.Now().Add(700 * time.Millisecond).UnixMilli()
			prefix := testenv.Prefix(t)
			outs := make([]chan string, mpProcs)
			for i := range outs {
				cmd := testenv.Child(t, "TestProcessesShareGlobalLimit", "limit",
					"RL_ALG="+name, "RL_URL="+url, "RL_PREFIX="+prefix, "RL_START="+strconv.FormatInt(start, 10))
				var buf strings.Builder
				cmd.Stdout = &buf
				cmd.Stderr = &buf
				testenv.StartChild(t, cmd)
				outs[i] = make(chan string, 1)
				go func(ch chan string) { _ = cmd.Wait(); ch <- buf.String() }(outs[i])
			}
			var total int64
			for i, ch := range outs {
				var out string
				select {
				case out = <-ch:
				case <-time.After(30 * time.Second):
					t.Fatalf("child %d did not finish", i)
				}
				var n int64
				idx := strings.Index(out, "ADMITTED ")
				if idx < 0 {
					t.Fatalf("child %d output: %s", i, out)
				}
				if _, err := fmt.Sscanf(out[idx:], "ADMITTED %d", &n); err != nil {
					t.Fatalf("child %d output %q: %v", i, out, err)
				}
				total += n
			}
			periods := int64(mpRun / lim.Period) // 5
			var upper, lower int64
			if lim.Algorithm.Bucket() {
				// Burst + Rate per period over the run, one period of
				// slack for process start and Redis server time.
				upper = int64(lim.Burst) + (periods+1)*int64(lim.Rate)
			} else {
				// At most Rate per aligned window; the run touches at
				// most periods+1 windows (plus one for start skew).
				upper = (periods + 2) * int64(lim.Rate)
			}
			lower = periods * int64(lim.Rate) / 2
			t.Logf("%s: %d processes admitted %d units in %v (global bounds [%d, %d]; per-process limits would admit about %d)",
				name, mpProcs, total, mpRun, lower, upper, mpProcs*periods*int64(lim.Rate))
			if total > upper {
				t.Fatalf("%d processes admitted %d units; the global limit allows at most %d", mpProcs, total, upper)
			}
			if total < lower {
				t.Fatalf("%d processes admitted only %d units; the limit should admit at least %d", mpProcs, total, lower)
			}
		})
	}
}
