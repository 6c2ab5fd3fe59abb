package driver_test

import (
	"context"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/memqueue"
)

// The driver contract at work on the memory backend: Publish stores, Receive
// leases and counts deliveries, Nack retries, Ack deletes. Applications use
// package queue instead; this is what a backend must answer.
func Example() {
	ctx := context.Background()
	var d driver.Queue = memqueue.New(nil)
	_ = d.Subscribe(ctx, "jobs", "workers")
	now := time.Now()
	_ = d.Publish(ctx, "jobs", []driver.Message{{ID: "j1", Body: []byte("resize"), NotBefore: now, PublishedAt: now}})

	ds, _ := d.Receive(ctx, "jobs", "workers", 10, time.Minute)
	fmt.Println(ds[0].ID, ds[0].Deliveries)
	_ = d.Nack(ctx, "jobs", "workers", ds[0].Handle, driver.Nack{Action: driver.ActionRetry, Error: "timeout"})

	ds, _ = d.Receive(ctx, "jobs", "workers", 10, time.Minute)
	fmt.Println(ds[0].ID, ds[0].Deliveries, ds[0].LastError)
	_ = d.Ack(ctx, "jobs", "workers", []string{ds[0].Handle})
	st, _ := d.Stats(ctx, "jobs", "workers")
	fmt.Println("backlog", st.Backlog, driver.ActionDeadLetter)
	// Output:
	// j1 1
	// j1 2 timeout
	// backlog 0 dead-letter
}
