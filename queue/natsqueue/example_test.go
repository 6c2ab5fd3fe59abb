package natsqueue_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/natsqueue"
)

// Example runs nats-server in the process, publishes a message with an
// ordering key and receives it from a durable subscription.
func Example() {
	dir, _ := os.MkdirTemp("", "natsqueue-example-")
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		fmt.Println("nats-server did not start")
		return
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()

	d, err := natsqueue.New(nc, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	q, err := queue.New(d, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	ctx := context.Background()
	sub, err := q.Subscribe(ctx, "orders", "billing", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := q.Publish(ctx, "orders", queue.Message{Body: []byte("order 42"), Key: "customer-7"}); err != nil {
		fmt.Println(err)
		return
	}
	m, err := sub.Receive(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(m.Body), m.Deliveries)
	_ = m.Ack(ctx)
	// Output: order 42 1
}
