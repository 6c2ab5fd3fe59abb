package redisrate_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/ratelimit"
	"github.com/scalekit-go/scalekit/ratelimit/memrate"
	"github.com/scalekit-go/scalekit/ratelimit/redisrate"
)

var gcra = ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 5, Period: time.Second, Burst: 2}

// cmdCounter counts the commands a client sends, by name.
type cmdCounter struct{ evalsha, eval, other atomic.Int64 }

func (c *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (c *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch strings.ToLower(cmd.Name()) {
		case "evalsha":
			c.evalsha.Add(1)
		case "eval":
			c.eval.Add(1)
		default:
			c.other.Add(1)
		}
		return next(ctx, cmd)
	}
}

// Every decision is one EVALSHA; after SCRIPT FLUSH the next one falls
// back to EVAL (which loads the script) and the one after is EVALSHA again.
func TestOneRoundTripAndNoScriptFallback(t *testing.T) {
	ctx := context.Background()
	c := testenv.RedisClient(t)
	var cnt cmdCounter
	c.AddHook(&cnt)
	l, err := wrap(redisrate.New(c, gcra, &redisrate.Options{Prefix: testenv.Prefix(t), Timeout: testTimeout}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Allow(ctx, "warm", 1); err != nil {
		t.Fatal(err)
	}
	cnt.evalsha.Store(0)
	cnt.eval.Store(0)
	cnt.other.Store(0)
	for i := 0; i < 10; i++ {
		if _, err := l.Allow(ctx, "k", 1); err != nil {
			t.Fatal(err)
		}
	}
	if e, ev, o := cnt.evalsha.Load(), cnt.eval.Load(), cnt.other.Load(); e != 10 || ev != 0 || o != 0 {
		t.Fatalf("10 decisions sent %d EVALSHA, %d EVAL, %d other commands; want 10, 0, 0", e, ev, o)
	}
	admin := testenv.RedisClient(t)
	if err := admin.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	cnt.evalsha.Store(0)
	for i := 0; i < 2; i++ {
		if _, err := l.Allow(ctx, "k2", 1); err != nil {
			t.Fatalf("Allow after SCRIPT FLUSH: %v", err)
		}
	}
	if e, ev := cnt.evalsha.Load(), cnt.eval.Load(); e != 2 || ev != 1 {
		t.Fatalf("after SCRIPT FLUSH two decisions sent %d EVALSHA and %d EVAL; want 2 and 1 (NOSCRIPT fallback once)", e, ev)
	}
}

// With no Clock option the scripts use the Redis server's clock: a denied
// request's RetryAfter is measured on it, and polling admits the request
// once that much real time has passed, not before.
func TestServerClock(t *testing.T) {
	ctx := context.Background()
	lim := ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 1, Period: 300 * time.Millisecond, Burst: 1}
	l, err := wrap(redisrate.New(testenv.RedisClient(t), lim, &redisrate.Options{Prefix: testenv.Prefix(t), Timeout: testTimeout}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if d, err := l.Allow(ctx, "k", 1); err != nil || !d.Allowed {
		t.Fatalf("first Allow = %+v, %v", d, err)
	}
	d, err := l.Allow(ctx, "k", 1)
	if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 300*time.Millisecond {
		t.Fatalf("second Allow = %+v, %v; want denied with RetryAfter in (0, 300ms]", d, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := l.Allow(ctx, "k", 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never admitted again on the server clock")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	if el := time.Since(start); el < 280*time.Millisecond {
		t.Fatalf("admitted again after %v; the server clock says 300ms", el)
	}
}

// Keys expire when their state is back to fresh: memory in Redis is bounded
// by the active keys.
func TestKeysExpire(t *testing.T) {
	ctx := context.Background()
	c := testenv.RedisClient(t)
	for _, lim := range []ratelimit.Limit{
		gcra,
		{Algorithm: ratelimit.SlidingWindow, Rate: 5, Period: time.Second},
		{Algorithm: ratelimit.SlidingLog, Rate: 5, Period: time.Second},
		{Algorithm: ratelimit.TokenBucket, Rate: 5, Period: time.Second, Burst: 2},
		{Algorithm: ratelimit.FixedWindow, Rate: 5, Period: time.Second},
		{Algorithm: ratelimit.LeakyBucket, Rate: 5, Period: time.Second, Burst: 2},
	} {
		d, err := redisrate.New(c, lim, &redisrate.Options{Prefix: testenv.Prefix(t), Timeout: testTimeout})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := d.Allow(ctx, "k", 1)
		if err != nil {
			t.Fatal(err)
		}
		ttl, err := c.PTTL(ctx, d.Key("k")).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > dec.ResetAfter+2*time.Millisecond {
			t.Errorf("%v: key TTL %v, want in (0, ResetAfter %v + 2ms]", lim.Algorithm, ttl, dec.ResetAfter)
		}
	}
}

func TestBadInput(t *testing.T) {
	c := testenv.RedisClient(t)
	bad := []ratelimit.Limit{
		{Algorithm: ratelimit.GCRA, Rate: 3, Period: 1500 * time.Nanosecond, Burst: 1},
		{Algorithm: ratelimit.GCRA, Rate: 0, Period: time.Second, Burst: 1},
		{Algorithm: ratelimit.SlidingWindow, Rate: 1 << 40, Period: time.Hour},
	}
	for _, lim := range bad {
		if _, err := redisrate.New(c, lim, nil); !errors.Is(err, ratelimit.ErrInvalidLimit) {
			t.Errorf("New(%+v) = %v, want ErrInvalidLimit", lim, err)
		}
	}
	if _, err := redisrate.New(nil, gcra, nil); err == nil {
		t.Error("New(nil client) accepted")
	}
}

// Failure policies, tested by stopping a dedicated Redis server: FailError
// returns ErrUnavailable with the network error inside, FailOpen admits,
// FailClosed denies, a Fallback limiter decides locally; when Redis is back
// the shared limit decides again.
func TestRedisUnreachable(t *testing.T) {
	ctx := context.Background()
	srv := testenv.NewRedis(t, nil)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	lim := ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 1, Period: time.Hour, Burst: 1}
	fallback, err := memrate.New(ratelimit.Limit{Algorithm: ratelimit.GCRA, Rate: 2, Period: time.Hour, Burst: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(o ratelimit.Options) *ratelimit.Limiter {
		l, err := wrapWith(&o)(redisrate.New(c, lim, &redisrate.Options{Prefix: "p:"}))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	failErr := mk(ratelimit.Options{})
	open := mk(ratelimit.Options{Failure: ratelimit.FailOpen})
	closed := mk(ratelimit.Options{Failure: ratelimit.FailClosed, FailRetryAfter: 3 * time.Second})
	withFallback := mk(ratelimit.Options{Failure: ratelimit.FailClosed, Fallback: fallback})

	if d, err := failErr.Allow(ctx, "k", 1); err != nil || !d.Allowed {
		t.Fatalf("Allow with Redis up = %+v, %v", d, err)
	}
	srv.Stop(t)

	start := time.Now()
	d, err := failErr.Allow(ctx, "k", 1)
	if !errors.Is(err, ratelimit.ErrUnavailable) || d.Allowed {
		t.Fatalf("FailError with Redis down = %+v, %v; want denied and ErrUnavailable", d, err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("a failed decision took %v with 200ms client timeouts", el)
	}
	if d, err := open.Allow(ctx, "k", 1); err != nil || !d.Allowed {
		t.Fatalf("FailOpen with Redis down = %+v, %v; want admitted", d, err)
	}
	if d, err := closed.Allow(ctx, "k", 1); err != nil || d.Allowed || d.RetryAfter != 3*time.Second {
		t.Fatalf("FailClosed with Redis down = %+v, %v; want denied, RetryAfter 3s", d, err)
	}
	for i := 0; i < 2; i++ {
		if d, err := withFallback.Allow(ctx, "k", 1); err != nil || !d.Allowed {
			t.Fatalf("fallback decision %d = %+v, %v; want admitted by the local limit of 2", i+1, d, err)
		}
	}
	if d, err := withFallback.Allow(ctx, "k", 1); err != nil || d.Allowed {
		t.Fatalf("third fallback decision = %+v, %v; the local limit of 2 must deny it", d, err)
	}

	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The key's state survived (the server was stopped, not flushed,
		// but it is not durable): either way Redis decides again.
		_, err := failErr.Allow(ctx, "fresh", 1)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis back but Allow still fails: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling for reconnection
	}
	if d, _ := failErr.Allow(ctx, "fresh", 1); d.Allowed {
		t.Fatal("second unit of a 1-burst limit admitted after Redis came back")
	}
}

// The fake clock drives the scripts through Options.Clock: a decision time
// is sent as an argument, so the same script admits again exactly at
// RetryAfter.
func TestInjectedClock(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	l, err := wrap(redisrate.New(testenv.RedisClient(t), gcra, &redisrate.Options{Prefix: testenv.Prefix(t), Clock: clk, ExpirySlack: time.Hour, Timeout: testTimeout}))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if d, _ := l.Allow(ctx, "k", 1); !d.Allowed {
			t.Fatalf("burst unit %d denied", i)
		}
	}
	d, err := l.Allow(ctx, "k", 1)
	if err != nil || d.Allowed || d.RetryAfter != 200*time.Millisecond {
		t.Fatalf("Allow past burst = %+v, %v; want RetryAfter exactly 200ms", d, err)
	}
	clk.Advance(d.RetryAfter - time.Microsecond)
	if d, _ := l.Allow(ctx, "k", 1); d.Allowed {
		t.Fatal("admitted 1µs before RetryAfter")
	}
	clk.Advance(time.Microsecond)
	if d, _ := l.Allow(ctx, "k", 1); !d.Allowed {
		t.Fatal("denied at RetryAfter")
	}
}
