package bench

import (
	"runtime"
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
		p := riverPool(t)
		before := runtime.NumGoroutine()
		run(t, riverSide(p, 4))
		// Stop has returned; the client's goroutines must be gone (a few
		// of pgx's may take a moment to notice their connection closed).
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines after River's Stop, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			}
			runtime.Gosched()
			time.Sleep(10 * time.Millisecond)
		}
	})
}
