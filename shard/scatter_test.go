package shard_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/shard"
)

func TestScatterBoundedConcurrency(t *testing.T) {
	var cur, peak atomic.Int32
	shards := nodeNames("s", 12)
	release := make(chan struct{})
	go func() {
		for peak.Load() < 3 { // let the first batch pile up
			time.Sleep(time.Millisecond)
		}
		close(release)
	}()
	res, err := shard.Scatter(context.Background(), shards, func(ctx context.Context, s string) (string, error) {
		n := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		return "r-" + s, nil
	}, &shard.ScatterOptions{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 3 {
		t.Fatalf("peak concurrency %d, want 3", peak.Load())
	}
	for i, r := range res {
		if r.Shard != shards[i] || r.Value != "r-"+shards[i] || r.Err != nil {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
}

func slowShard(ctx context.Context, s string) (int, error) {
	if s == "s001" {
		<-ctx.Done() // this shard hangs until its timeout
		return 0, ctx.Err()
	}
	if s == "s002" {
		return 0, errors.New("disk on fire")
	}
	return len(s), nil
}

func TestScatterPartialPolicy(t *testing.T) {
	shards := nodeNames("s", 4)
	res, err := shard.Scatter(context.Background(), shards, slowShard, &shard.ScatterOptions{Partial: true, Timeout: 50 * time.Millisecond})
	if !errors.Is(err, shard.ErrPartial) {
		t.Fatalf("err = %v, want ErrPartial", err)
	}
	if !errors.Is(res[1].Err, context.DeadlineExceeded) || res[2].Err == nil || res[0].Value != 4 || res[3].Value != 4 {
		t.Fatalf("results %+v", res)
	}
	var se *shard.ShardError
	if !errors.As(err, &se) {
		t.Fatalf("no ShardError in %v", err)
	}

	// Fail policy: the first failure wins and cancels the hanging shard
	// long before its 1 minute timeout.
	start := time.Now()
	res, err = shard.Scatter(context.Background(), shards, slowShard, &shard.ScatterOptions{Timeout: time.Minute})
	if err == nil || res != nil || !errors.As(err, &se) || se.Shard != "s002" {
		t.Fatalf("fail policy: %v %v", res, err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("failure did not cancel the other shards")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := shard.Scatter(ctx, shards, slowShard, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := shard.Scatter[int](context.Background(), nil, slowShard, nil); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	if _, err := shard.Scatter(context.Background(), shards, slowShard, &shard.ScatterOptions{Concurrency: -1}); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
}

func TestMergeSorted(t *testing.T) {
	lists := [][]int{{1, 4, 9}, {2, 3, 10, 11}, nil, {0, 5}}
	cmpInt := func(a, b int) int { return a - b }
	got, _ := shard.MergeSorted(lists, cmpInt, 2, 5)
	if fmt.Sprint(got) != "[2 3 4 5 9]" {
		t.Fatal(got)
	}
	all, _ := shard.MergeSorted(lists, cmpInt, 0, -1)
	if fmt.Sprint(all) != "[0 1 2 3 4 5 9 10 11]" {
		t.Fatal(all)
	}
	if tail, _ := shard.MergeSorted(lists, cmpInt, 20, 5); len(tail) != 0 {
		t.Fatal(tail)
	}
	if _, err := shard.MergeSorted(lists, cmpInt, -1, 5); !errors.Is(err, shard.ErrBadArgument) {
		t.Fatal(err)
	}
	if shard.PushdownLimit(10, 5) != 15 {
		t.Fatal("pushdown")
	}
}

func TestAggregateNeverAveragesAverages(t *testing.T) {
	// Shard A: one row of 100; shard B: 99 rows of 0. True AVG = 1;
	// the average of averages would be 50.
	a := shard.Partial[int64]{Rows: 1, Count: 1, Sum: 100, Min: 100, Max: 100}
	b := shard.Partial[int64]{Rows: 99, Count: 99, Sum: 0, Min: 0, Max: 0}
	empty := shard.Partial[int64]{Rows: 3} // three NULLs
	got := shard.Aggregate([]shard.Partial[int64]{empty, a, b})
	avg, ok := got.Avg()
	if !ok || avg != 1 || got.Rows != 103 || got.Count != 100 || got.Min != 0 || got.Max != 100 {
		t.Fatalf("%+v avg %v", got, avg)
	}
	if _, ok := shard.Aggregate([]shard.Partial[int64]{empty}).Avg(); ok {
		t.Fatal("AVG of no values must be NULL")
	}
}
