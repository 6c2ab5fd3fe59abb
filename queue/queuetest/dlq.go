package queuetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue"
)

// testDLQ: list (paged), inspect, redrive and purge the dead-letter queue.
func (s *suite) testDLQ(t *testing.T) {
	ctx := context.Background()
	q := s.queue(t, nil)
	tp := topicName(t)
	sub := s.subscribe(t, q, tp, "s", nil)
	const n = 5
	msgs := make([]queue.Message, n)
	for i := range msgs {
		msgs[i] = queue.Message{Body: []byte(fmt.Sprint(i)), Headers: map[string]string{"n": fmt.Sprint(i)}}
	}
	ids := s.publish(t, q, tp, msgs...)
	// Dead-letter them in publish order.
	for i := 0; i < n; i++ {
		d := s.receive(t, sub, 5*time.Second)
		if d == nil {
			t.Fatalf("message %d not delivered", i)
		}
		if err := d.Nack(ctx, queue.DeadLetterNow, fmt.Errorf("bad %s", d.Body)); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.stats(t, sub); st.DeadLetters != n || st.Backlog != 0 {
		t.Fatalf("stats %+v; want %d dead letters and no backlog", st, n)
	}
	page1, err := sub.DeadLetters(ctx, "", 3)
	if err != nil || len(page1) != 3 {
		t.Fatalf("DeadLetters page 1 = %d, %v; want 3", len(page1), err)
	}
	page2, err := sub.DeadLetters(ctx, page1[2].ID, 3)
	if err != nil || len(page2) != 2 {
		t.Fatalf("DeadLetters after %q = %d, %v; want 2", page1[2].ID, len(page2), err)
	}
	seen := map[string]bool{}
	for _, dl := range append(page1, page2...) {
		if seen[dl.ID] {
			t.Errorf("dead letter %q listed twice across pages", dl.ID)
		}
		seen[dl.ID] = true
		if dl.LastError != "bad "+string(dl.Body) || dl.Headers["n"] != string(dl.Body) || dl.DeadAt.IsZero() {
			t.Errorf("dead letter %+v does not keep the message, its error and when it died", dl)
		}
	}
	if len(seen) != n {
		t.Errorf("pages listed %d distinct dead letters, want %d", len(seen), n)
	}
	dl, err := sub.DeadLetter(ctx, ids[1])
	if err != nil || string(dl.Body) != "1" {
		t.Errorf("DeadLetter(%q) = %+v, %v", ids[1], dl, err)
	}
	// Redrive two: they are delivered again with a fresh delivery count.
	moved, err := sub.Redrive(ctx, ids[0], ids[1], "unknown-id")
	if err != nil || moved != 2 {
		t.Fatalf("Redrive = %d, %v; want 2", moved, err)
	}
	for i := 0; i < 2; i++ {
		d := s.receive(t, sub, 5*time.Second)
		if d == nil {
			t.Fatal("a redriven message was not delivered")
		}
		if d.Deliveries != 1 {
			t.Errorf("redriven message %q has Deliveries %d, want 1", d.ID, d.Deliveries)
		}
		_ = d.Ack(ctx)
	}
	if _, err := sub.DeadLetter(ctx, ids[0]); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("a redriven message is still in the DLQ (err %v)", err)
	}
	purged, err := sub.Purge(ctx, ids[2])
	if err != nil || purged != 1 {
		t.Errorf("Purge(one) = %d, %v", purged, err)
	}
	purged, err = sub.PurgeAll(ctx)
	if err != nil || purged != 2 {
		t.Errorf("PurgeAll = %d, %v; want 2", purged, err)
	}
	if st := s.stats(t, sub); st.DeadLetters != 0 || st.Backlog != 0 {
		t.Errorf("stats %+v after purge; want empty", st)
	}
	// RedriveAll moves everything back.
	s.publish(t, q, tp, queue.Message{Body: []byte("again")})
	d := s.receive(t, sub, 5*time.Second)
	if d == nil {
		t.Fatal("nothing delivered")
	}
	_ = d.Nack(ctx, queue.DeadLetterNow, nil)
	if moved, err := sub.RedriveAll(ctx); err != nil || moved != 1 {
		t.Errorf("RedriveAll = %d, %v; want 1", moved, err)
	}
	if st := s.stats(t, sub); st.DeadLetters != 0 || st.Backlog != 1 {
		t.Errorf("stats %+v after RedriveAll; want 1 in the backlog", st)
	}
}
