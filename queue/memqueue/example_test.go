package memqueue_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/memqueue"
)

// Testing code built on queues without sleeping: a fake clock for
// delays, ExpireLeases for a consumer that died, FailNext for an outage.
func Example() {
	ctx := context.Background()
	fc := clock.NewFake(time.Unix(0, 0))
	m := memqueue.New(&memqueue.Options{Clock: fc})
	q, _ := queue.New(m, &queue.Options{Clock: fc})
	sub, _ := q.Subscribe(ctx, "mail", "sender", nil)

	_, _ = q.Publish(ctx, "mail", queue.Message{Body: []byte("reminder"), Delay: time.Hour})
	st, _ := sub.Stats(ctx)
	fmt.Println("backlog", st.Backlog)

	fc.Advance(time.Hour)
	d, _ := sub.Receive(ctx)
	fmt.Println(string(d.Body), d.Deliveries)

	m.ExpireLeases("mail", "sender") // the consumer "died"
	d, _ = sub.Receive(ctx)
	fmt.Println(string(d.Body), d.Deliveries)
	_ = d.Ack(ctx)

	m.FailNext("publish", errors.New("injected outage"))
	_, err := q.Publish(ctx, "mail", queue.Message{})
	fmt.Println(err)
	// Output:
	// backlog 1
	// reminder 1
	// reminder 2
	// queue: publish to "mail": injected outage
}
