package bench

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/internal/testenv"
)

// TestQueueSides runs every contender of the queue rows once on a few
// hundred messages, so that make test catches a contender that loses or
// stalls messages, and checks that River's Stop leaves no goroutine
// behind.
func TestQueueSides(t *testing.T) {
	const smokeN = 300
	run := func(t *testing.T, s e2eSide) {
		t.Helper()
		if err := runE2E(nil, s, smokeN, ""); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("pgqueue", func(t *testing.T) { run(t, pgqueueSide(openPgqueue(t), 4)) })
	t.Run("postgres-raw", func(t *testing.T) { run(t, rawPgSide(t, pgPool(t))) })
	t.Run("redisqueue", func(t *testing.T) { run(t, redisqueueSide(t, testenv.RedisClient(t))) })
	t.Run("redis-raw", func(t *testing.T) { run(t, rawRedisSide(t, testenv.RedisClient(t))) })
	t.Run("nats", func(t *testing.T) {
		nc := startNATS(t)
		run(t, natsqueueSide(t, nc))
		run(t, rawNATSSide(t, nc))
	})
	t.Run("river", func(t *testing.T) {
		s := riverSide(riverPool(t), 4)
		start := s.start
		s.start = func(ctx context.Context, handled func(int)) (func() error, error) {
			stop, err := start(ctx, handled)
			if err == nil && riverGoroutines() == "" {
				t.Error("no River goroutine seen while the client runs: the leak check below would see nothing either")
			}
			return stop, err
		}
		run(t, s)
		// Stop has returned: no goroutine of River's may be left.
		deadline := time.Now().Add(10 * time.Second)
		for {
			left := riverGoroutines()
			if left == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("River goroutines left after Stop:\n%s", left)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// riverGoroutines returns the stacks of the goroutines running River's
// code, "" when there is none.
func riverGoroutines() string {
	buf := make([]byte, 1<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "github.com/riverqueue/river") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
