package etcdlock_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/etcdlock"
)

// exampleEndpoints is the test binary's etcd, recorded by TestExampleSetup:
// tests run before examples, and examples cannot start a server.
var exampleEndpoints []string

func TestExampleSetup(t *testing.T) { exampleEndpoints = testenv.EtcdEndpoints(t) }

// Waiters on an etcd lock are served in arrival order, and every holder's
// fencing token (its etcd revision) is larger than the one before.
func Example() {
	ctx := context.Background()
	if len(exampleEndpoints) == 0 {
		fmt.Println("run with go test, which starts etcd")
		return
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: exampleEndpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	d, err := etcdlock.New(cli, &etcdlock.Options{Prefix: "example/locks/"})
	if err != nil {
		fmt.Println(err)
		return
	}
	locker, err := lock.New(d, &lock.Options{TTL: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}

	first, err := locker.Acquire(ctx, "migrations", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	next := make(chan *lock.Lease)
	go func() {
		l, err := locker.Acquire(ctx, "migrations", nil) // queues behind first
		if err != nil {
			fmt.Println(err)
		}
		next <- l
	}()
	_ = first.Release(ctx)
	second := <-next
	fmt.Println("tokens increase:", second.Token() > first.Token())
	_ = second.Release(ctx)
	// Output:
	// tokens increase: true
}
