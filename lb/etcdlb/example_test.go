package etcdlb_test

import (
	"context"
	"net/http"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/scalekit-go/scalekit/lb"
	"github.com/scalekit-go/scalekit/lb/etcdlb"
)

// Servers register themselves; clients balance over whatever is
// registered, following changes as they happen.
func Example() {
	ctx := context.Background()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"localhost:2379"}, DialTimeout: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	defer cli.Close()

	// In each server: register, deregister on shutdown.
	reg, err := etcdlb.Register(ctx, cli, "/services/billing/", lb.Endpoint{Addr: "10.0.0.7:8080"}, &etcdlb.RegisterOptions{TTL: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	defer reg.Close(ctx)

	// In each client: a balancer fed by the registry.
	res, err := etcdlb.NewResolver(cli, "/services/billing/", nil)
	if err != nil {
		panic(err)
	}
	bal, err := lb.Open(ctx, res, &lb.Options{Policy: lb.LeastResponseTime(nil)})
	if err != nil {
		panic(err)
	}
	defer bal.Close()
	client := &http.Client{Transport: &lb.Transport{Balancer: bal}}
	_ = client
}
