package etcdlock_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/etcdlock"
)

// benchDriver returns a Driver whose client counts its unary RPCs: each is
// one round trip to the server.
func benchDriver(b *testing.B) (*etcdlock.Driver, *atomic.Int64) {
	b.Helper()
	return countingDriver(b, testenv.EtcdEndpoints(b), testenv.Prefix(b)+"/")
}

// countingDriver returns a Driver on a client of its own that counts its
// unary RPCs (streams, such as watches and keep-alive streams, are not
// counted).
func countingDriver(b testing.TB, endpoints []string, prefix string) (*etcdlock.Driver, *atomic.Int64) {
	b.Helper()
	n := new(atomic.Int64)
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		n.Add(1)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(count)},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cli.Close() })
	d, err := etcdlock.New(cli, &etcdlock.Options{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	return d, n
}

// BenchmarkDriverAcquireRelease is one TryAcquire and one Release of a free
// key on the driver: grant + transaction, transaction + revoke, four round
// trips.
func BenchmarkDriverAcquireRelease(b *testing.B) {
	d, n := benchDriver(b)
	ctx := context.Background()
	n.Store(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.TryAcquire(ctx, driver.Request{Key: "bench", Owner: "o", TTL: 10 * time.Second}); err != nil {
			b.Fatal(err)
		}
		if err := d.Release(ctx, "bench", "o"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkAcquireRelease is lock.Locker's TryAcquire and Lease.Release of
// a free key, with 1 and 8 workers on distinct keys; ops/s is pairs per
// second over all workers.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			d, n := benchDriver(b)
			lk, err := lock.New(d, &lock.Options{TTL: 10 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			runWorkers(b, workers, func(ctx context.Context, key string) error {
				l, err := lk.TryAcquire(ctx, key, nil)
				if err != nil {
					return err
				}
				return l.Release(ctx)
			}, n.Load)
		})
	}
}

// BenchmarkQueueAcquireRelease is lock.Locker's Acquire of a free key
// through the FIFO queue (grant + join) and Lease.Release.
func BenchmarkQueueAcquireRelease(b *testing.B) {
	d, n := benchDriver(b)
	lk, err := lock.New(d, &lock.Options{TTL: 10 * time.Second, Wait: lock.WaitNative})
	if err != nil {
		b.Fatal(err)
	}
	runWorkers(b, 1, func(ctx context.Context, key string) error {
		l, err := lk.Acquire(ctx, key, nil)
		if err != nil {
			return err
		}
		return l.Release(ctx)
	}, n.Load)
}

// runWorkers splits b.N pairs over workers goroutines, each on its own key,
// and reports ops/s and round trips per op.
func runWorkers(b *testing.B, workers int, op func(ctx context.Context, key string) error, calls func() int64) {
	b.Helper()
	ctx := context.Background()
	for w := 0; w < workers; w++ {
		if err := op(ctx, fmt.Sprintf("bench-%d", w)); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	before := calls()
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(key string) {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := op(ctx, key); err != nil {
					b.Error(err)
					return
				}
			}
		}(fmt.Sprintf("bench-%d", w))
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(calls()-before)/float64(b.N), "roundtrips/op")
}
