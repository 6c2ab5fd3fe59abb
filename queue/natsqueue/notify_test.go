package natsqueue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue/driver"
)

// TestNotifyWakesOnPublish checks that a Publish through one connection
// wakes a Notify channel of a Driver on another.
func TestNotifyWakesOnPublish(t *testing.T) {
	url := startNATS(t, 1)
	ctx := context.Background()
	a, b := newDriver(t, url, nil), newDriver(t, url, nil)
	if err := a.Subscribe(ctx, "t", "s"); err != nil {
		t.Fatal(err)
	}
	ready, stop, err := a.Notify(ctx, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// The subscription must be known to the server before the publish.
	if err := connect(t, url).Flush(); err != nil {
		t.Fatal(err)
	}
	for range 3 { // each publish wakes again once the last wake-up was taken
		select {
		case <-ready: // a leftover (spurious) wake-up
		default:
		}
		now := time.Now()
		if err := b.Publish(ctx, "t", []driver.Message{{ID: fmt.Sprint(now.UnixNano()), Body: []byte("x"), PublishedAt: now, NotBefore: now}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			t.Fatal("no wake-up within 10s of a Publish")
		}
	}
}

// TestReceiveAfterAbandonedPull checks that messages the server hands to
// a pull request whose Receive gave up (its ctx ended) come back at once
// (the next request naks them, or takes them if they come during it)
// rather than when their AckWait (30 s) ends.
func TestReceiveAfterAbandonedPull(t *testing.T) {
	url := startNATS(t, 1)
	ctx := context.Background()
	d := newDriver(t, url, nil)
	if err := d.Subscribe(ctx, "t", "s"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var msgs []driver.Message
	for i := range 3 {
		msgs = append(msgs, driver.Message{ID: fmt.Sprint("m", i), Body: []byte("x"), PublishedAt: now, NotBefore: now})
	}
	if err := d.Publish(ctx, "t", msgs); err != nil {
		t.Fatal(err)
	}
	const vis = 30 * time.Second // the consumer's AckWait already: no update needed
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if ds, err := d.Receive(dead, "t", "s", 10, vis); err == nil && len(ds) > 0 {
		t.Fatalf("Receive with a cancelled ctx returned %d messages", len(ds))
	}
	got := map[string]int{}
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 3 && time.Now().Before(deadline) {
		ds, err := d.Receive(ctx, "t", "s", 10, vis)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range ds {
			got[dl.ID] = dl.Deliveries
		}
	}
	if len(got) != 3 {
		t.Fatalf("got %v within 10s, want m0, m1, m2 (the abandoned request's messages were not taken)", got)
	}
	for id, n := range got {
		// 2 when the replies to the abandoned request were there when the
		// next began (naked), 1 when they came during it (taken as its own).
		if n != 1 && n != 2 {
			t.Errorf("%s: Deliveries = %d, want 1 or 2", id, n)
		}
	}
}
