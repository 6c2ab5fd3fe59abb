package redisidgen_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/driver"
	"github.com/scalekit-go/scalekit/idgen/idgentest"
	"github.com/scalekit-go/scalekit/idgen/internal/procs"
	"github.com/scalekit-go/scalekit/idgen/redisidgen"
	"github.com/scalekit-go/scalekit/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newSource(t testing.TB, c redis.UniversalClient, prefix string) *redisidgen.Source {
	t.Helper()
	src, err := redisidgen.New(c, &redisidgen.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestConformance(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.Prefix(t)
	idgentest.RunSegmentSource(t, func(t *testing.T) driver.SegmentSource {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		src, err := redisidgen.New(c, &redisidgen.Options{KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return src
	})
}

func TestBadInput(t *testing.T) {
	if _, err := redisidgen.New(nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	src := newSource(t, testenv.RedisClient(t), testenv.Prefix(t))
	for _, size := range []int64{0, -1} {
		if _, err := src.NextBlock(context.Background(), "x", size); err == nil {
			t.Errorf("NextBlock(size %d) succeeded", size)
		}
	}
}

// A counter key holding something else is an error, not a silent restart.
func TestWrongTypeKey(t *testing.T) {
	c, prefix := testenv.RedisClient(t), testenv.Prefix(t)
	src := newSource(t, c, prefix)
	if err := c.Set(context.Background(), prefix+"s", "not a number", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.NextBlock(context.Background(), "s", 10); err == nil {
		t.Fatal("NextBlock on a non-integer key succeeded")
	}
}

// With appendfsync always, a block acknowledged before Redis is killed is
// never handed out again after it restarts.
func TestNoBlockReusedAfterServerKill(t *testing.T) {
	srv := testenv.NewRedis(t, &testenv.RedisOptions{Durable: true})
	ctx := context.Background()
	prefix := testenv.Prefix(t)
	src := newSource(t, srv.Client(t), prefix)
	var last int64
	for range 50 {
		start, err := src.NextBlock(ctx, "crash", 100)
		if err != nil {
			t.Fatal(err)
		}
		last = start
	}
	srv.Kill(t)
	srv.Start(t)
	start, err := newSource(t, srv.Client(t), prefix).NextBlock(ctx, "crash", 100)
	if err != nil {
		t.Fatal(err)
	}
	if start <= last {
		t.Fatalf("after a crash the next block starts at %d, at or before the last acknowledged block %d", start, last)
	}
}

// Four processes, each with its own Segment on one Redis, draw 1M IDs in
// all; no ID is handed out twice.
func TestFourProcessesShareOneSource(t *testing.T) {
	const urlEnv, prefixEnv = "SCALEKIT_IDGEN_REDIS_URL", "SCALEKIT_IDGEN_PREFIX"
	if procs.IsChild() {
		opt, err := redis.ParseURL(os.Getenv(urlEnv))
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		defer c.Close()
		src, err := redisidgen.New(c, &redisidgen.Options{KeyPrefix: os.Getenv(prefixEnv)})
		if err != nil {
			t.Fatal(err)
		}
		seg, err := idgen.NewSegment(src, "shared", &idgen.SegmentOptions{BlockSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		procs.Child(t, seg.Next)
		return
	}
	ids := procs.Run(t, t.Name(), 4, 250_000, urlEnv+"="+testenv.RedisURL(t), prefixEnv+"="+testenv.Prefix(t))
	if dup, ok := idgentest.FindDuplicate(ids); ok {
		t.Fatalf("ID %d handed out twice across processes", dup)
	}
	if len(ids) != 1_000_000 {
		t.Fatalf("got %d IDs, want 1000000", len(ids))
	}
}

func TestUnreachableServer(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer c.Close()
	src := newSource(t, c, "p:")
	if _, err := src.NextBlock(context.Background(), "x", 1); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("NextBlock on an unreachable server = %v, want a connection error", err)
	}
}

// BenchmarkSegmentRefillAt1M draws 1M IDs/s from blocks of 1,000 fetched
// with INCRBY from a real Redis on loopback (see idgentest.BenchRefill).
func BenchmarkSegmentRefillAt1M(b *testing.B) {
	idgentest.BenchRefill(b, newSource(b, testenv.RedisClient(b), testenv.Prefix(b)), "bench", 1000)
}
