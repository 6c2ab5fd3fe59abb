package redisrate_test

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

// The child hammers the shared limit from 4 goroutines on its own client:
// it prints READY once connected, starts when the parent writes a line,
// runs for mpRun and prints how many units it was admitted.
func runLimitChild() {
	lim := sharedLimits[os.Getenv("RL_ALG")]
	opt, err := redis.ParseURL(os.Getenv("RL_URL"))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	l, err := wrap(redisrate.New(c, lim, &redisrate.Options{Prefix: os.Getenv("RL_PREFIX"), Timeout: testTimeout}))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	if _, err := l.Allow(context.Background(), "warm-up", 1); err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("READY")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	end := time.Now().Add(mpRun)
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
			prefix := testenv.Prefix(t)
			type child struct {
				in  io.WriteCloser
				out *bufio.Scanner
			}
			children := make([]child, mpProcs)
			for i := range children {
				cmd := testenv.Child(t, "TestProcessesShareGlobalLimit", "limit",
					"RL_ALG="+name, "RL_URL="+url, "RL_PREFIX="+prefix)
				cmd.Stderr = os.Stderr
				in, err := cmd.StdinPipe()
				if err != nil {
					t.Fatal(err)
				}
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				testenv.StartChild(t, cmd)
				children[i] = child{in, bufio.NewScanner(out)}
			}
			line := func(i int, want string) string {
				t.Helper()
				for children[i].out.Scan() {
					if l := children[i].out.Text(); strings.HasPrefix(l, want) || strings.HasPrefix(l, "ERR") {
						if strings.HasPrefix(l, "ERR") {
							t.Fatalf("child %d: %s", i, l)
						}
						return l
					}
				}
				t.Fatalf("child %d ended without %s: %v", i, want, children[i].out.Err())
				return ""
			}
			for i := range children {
				line(i, "READY")
			}
			start := time.Now()
			for _, c := range children {
				if _, err := io.WriteString(c.in, "GO\n"); err != nil {
					t.Fatal(err)
				}
			}
			var total int64
			for i := range children {
				var n int64
				if _, err := fmt.Sscanf(line(i, "ADMITTED"), "ADMITTED %d", &n); err != nil {
					t.Fatal(err)
				}
				total += n
			}
			// Every child's run lies within [start, now].
			el := time.Since(start)
			periods := int64((el + lim.Period - 1) / lim.Period)
			var upper int64
			if lim.Algorithm.Bucket() {
				upper = int64(lim.Burst) + periods*int64(lim.Rate) + 1
			} else {
				// At most Rate per aligned window touched.
				upper = (periods + 1) * int64(lim.Rate)
			}
			// Liveness: more than the first capacity (scheduling stalls on
			// a loaded machine make a rate-based lower bound flaky).
			lower := int64(lim.Capacity()) + 1
			t.Logf("%s: %d processes admitted %d units in %v (global bounds [%d, %d]; per-process limits would admit about %d)",
				name, mpProcs, total, el, lower, upper, mpProcs*int64(mpRun/lim.Period)*int64(lim.Rate))
			if total > upper {
				t.Fatalf("%d processes admitted %d units; the global limit allows at most %d", mpProcs, total, upper)
			}
			if total < lower {
				t.Fatalf("%d processes admitted only %d units; the limit should admit at least %d", mpProcs, total, lower)
			}
		})
	}
}
