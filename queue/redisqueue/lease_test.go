package redisqueue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/redisqueue"
)

// receiveOne polls Receive until it returns a delivery or the deadline.
func receiveOne(t *testing.T, d *redisqueue.Driver, topic string, vis, within time.Duration) *driver.Delivery {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ds, err := d.Receive(context.Background(), topic, "s", 10, vis)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 0 {
			if len(ds) != 1 {
				t.Fatalf("Receive returned %d deliveries, want 1", len(ds))
			}
			return &ds[0]
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// streamID returns the stream id inside a handle "<level>:<id>:<n>:<key>".
func streamID(h string) string { return strings.SplitN(h, ":", 4)[1] }

// pelEntry returns the PEL's record of entry id (nil when not pending).
func pelEntry(t *testing.T, c *redis.Client, stream, id string) *redis.XPendingExt {
	t.Helper()
	p, err := c.XPendingExt(context.Background(), &redis.XPendingExtArgs{Stream: stream, Group: "g", Start: id, End: id, Count: 1}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(p) == 0 {
		return nil
	}
	return &p[0]
}

// TestExtendKeepsTheDeliveryCount: the heartbeat is XCLAIM ... JUSTID to
// the same consumer. It resets the PEL's idle time, so a lease extended
// past its visibility is not handed out again, and it does not raise the
// PEL's delivery counter (an XCLAIM without JUSTID would, and a message
// with a long handler would reach the DLQ for being slow).
func TestExtendKeepsTheDeliveryCount(t *testing.T) {
	ctx := context.Background()
	d, c, topic, stream := setup(t)
	publish(t, d, topic, driver.Message{ID: "m", Body: []byte("x")})
	const vis = 2 * time.Second
	dl := receiveOne(t, d, topic, vis, 5*time.Second)
	if dl == nil {
		t.Fatal("nothing delivered")
	}
	// 8 extensions vis/7 apart outlast the first lease; each would have
	// to come a whole visibility late for the lease to lapse.
	for i := 0; i < 8; i++ {
		time.Sleep(vis / 7)
		if err := d.Extend(ctx, topic, "s", dl.Handle, vis); err != nil {
			t.Fatalf("Extend %d: %v", i, err)
		}
		if ds, err := d.Receive(ctx, topic, "s", 10, vis); err != nil || len(ds) != 0 {
			t.Fatalf("an extended lease was handed out again: %+v, %v", ds, err)
		}
	}
	pe := pelEntry(t, c, stream, streamID(dl.Handle))
	if pe == nil || pe.RetryCount != 1 || pe.Idle > vis {
		t.Fatalf("PEL entry after 8 extensions: %+v; want delivery count 1, idle below %v", pe, vis)
	}
	if err := d.Ack(ctx, topic, "s", []string{dl.Handle}); err != nil {
		t.Fatal(err)
	}
	if pe := pelEntry(t, c, stream, streamID(dl.Handle)); pe != nil {
		t.Fatalf("acked entry still pending: %+v", pe)
	}
}

// TestStaleHandle: a lease that expired and was handed out again is over
// for its first holder: its Ack is skipped (the second holder's lease and
// the ordering key stay as they are), Extend and Nack say ErrNotLeased.
// The second holder's handle works.
func TestStaleHandle(t *testing.T) {
	ctx := context.Background()
	d, c, topic, stream := setup(t)
	publish(t, d, topic, driver.Message{ID: "a", Key: "k", Body: []byte("a")}, driver.Message{ID: "b", Key: "k", Body: []byte("b")})
	const vis = 100 * time.Millisecond
	first := receiveOne(t, d, topic, vis, 5*time.Second)
	if first == nil || first.ID != "a" {
		t.Fatalf("first delivery %+v, want a", first)
	}
	second := receiveOne(t, d, topic, vis, 10*time.Second)
	if second == nil || second.ID != "a" || second.Deliveries != 2 {
		t.Fatalf("after the lease expired: %+v; want a again, delivery 2", second)
	}
	// Keep the second lease alive while the stale handle is tried.
	if err := d.Extend(ctx, topic, "s", second.Handle, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx, topic, "s", []string{first.Handle}); err != nil {
		t.Fatal(err)
	}
	if pe := pelEntry(t, c, stream, streamID(second.Handle)); pe == nil || pe.RetryCount != 2 {
		t.Fatalf("a stale Ack settled the live lease (PEL %+v)", pe)
	}
	if ds, _ := d.Receive(ctx, topic, "s", 10, time.Minute); len(ds) != 0 {
		t.Fatalf("a stale Ack moved the ordering key on: %+v", ds)
	}
	for name, err := range map[string]error{
		"Extend":                   d.Extend(ctx, topic, "s", first.Handle, time.Minute),
		"Nack":                     d.Nack(ctx, topic, "s", first.Handle, driver.Nack{Action: driver.ActionDrop}),
		"Nack of a made-up handle": d.Nack(ctx, topic, "s", "0:1-1:1:", driver.Nack{Action: driver.ActionDrop}),
		"Extend of garbage":        d.Extend(ctx, topic, "s", "garbage", time.Minute),
	} {
		if err != driver.ErrNotLeased {
			t.Errorf("%s with a stale handle = %v, want ErrNotLeased", name, err)
		}
	}
	if err := d.Ack(ctx, topic, "s", []string{second.Handle, "garbage", ""}); err != nil {
		t.Fatal(err)
	}
	next := receiveOne(t, d, topic, time.Minute, 5*time.Second)
	if next == nil || next.ID != "b" || next.Deliveries != 1 {
		t.Fatalf("after the live Ack: %+v; want b", next)
	}
}

// TestRetryIsNotReclaimedEarly: a message nacked with a delay longer than
// the visibility waits in the PEL (consumer "r"), idle for longer than
// the lease horizon, and still is not handed out before its retry time.
func TestRetryIsNotReclaimedEarly(t *testing.T) {
	ctx := context.Background()
	d, _, topic, _ := setup(t)
	publish(t, d, topic, driver.Message{ID: "m", Body: []byte("x")})
	const vis = 50 * time.Millisecond
	dl := receiveOne(t, d, topic, vis, 5*time.Second)
	if dl == nil {
		t.Fatal("nothing delivered")
	}
	const delay = 600 * time.Millisecond
	nacked := time.Now()
	if err := d.Nack(ctx, topic, "s", dl.Handle, driver.Nack{Action: driver.ActionRetry, Delay: delay, Error: "later"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Extend(ctx, topic, "s", dl.Handle, vis); err != driver.ErrNotLeased {
		t.Errorf("Extend of a nacked lease = %v, want ErrNotLeased", err)
	}
	again := receiveOne(t, d, topic, vis, 10*time.Second)
	if again == nil {
		t.Fatal("the retry never came")
	}
	if el := time.Since(nacked); el < delay {
		t.Fatalf("retried after %v, before its delay %v (taken as an expired lease?)", el, delay)
	}
	if again.Deliveries != 2 || again.LastError != "later" {
		t.Fatalf("retry %+v; want delivery 2, last error later", again)
	}
}

// TestShortVisibilityUnderALongerHorizon: once some consumer leased with
// a long visibility (the horizon), a lease with a short one still ends
// after its own visibility: its PEL delivery time is set in the past.
func TestShortVisibilityUnderALongerHorizon(t *testing.T) {
	ctx := context.Background()
	d, _, topic, _ := setup(t)
	if ds, err := d.Receive(ctx, topic, "s", 10, time.Hour); err != nil || len(ds) != 0 {
		t.Fatalf("Receive on an empty subscription = %+v, %v", ds, err)
	}
	publish(t, d, topic, driver.Message{ID: "m", Body: []byte("x")})
	const vis = 200 * time.Millisecond
	leased := time.Now()
	dl := receiveOne(t, d, topic, vis, 5*time.Second)
	if dl == nil {
		t.Fatal("nothing delivered")
	}
	again := receiveOne(t, d, topic, vis, 10*time.Second)
	if again == nil {
		t.Fatal("a lease of 200ms under a horizon of an hour was never handed out again")
	}
	if el := time.Since(leased); el < vis {
		t.Fatalf("handed out again after %v, within its visibility %v", el, vis)
	}
	if again.Deliveries != 2 {
		t.Fatalf("redelivery has delivery count %d, want 2", again.Deliveries)
	}
}
