package redisqueue_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/redisqueue"
)

var trapSeq int

// setup returns a driver on the shared server, a fresh topic with
// subscription "s", and the name of that subscription's level-0 stream.
func setup(t *testing.T) (*redisqueue.Driver, *redis.Client, string, string) {
	t.Helper()
	c := testenv.RedisClient(t)
	d := newDriver(t, c)
	trapSeq++
	topic := fmt.Sprintf("trap.%s.%d.%d", t.Name(), time.Now().UnixNano(), trapSeq)
	if err := d.Subscribe(context.Background(), topic, "s"); err != nil {
		t.Fatal(err)
	}
	return d, c, topic, redisqueue.DefaultPrefix + "{" + topic + "}:s1:s:p0"
}

func publish(t *testing.T, d *redisqueue.Driver, topic string, msgs ...driver.Message) {
	t.Helper()
	now := time.Now()
	for i := range msgs {
		msgs[i].PublishedAt, msgs[i].NotBefore = now, now
	}
	if err := d.Publish(context.Background(), topic, msgs); err != nil {
		t.Fatal(err)
	}
}

// pelCount returns the PEL's delivery counter of entry id.
func pelCount(t *testing.T, c *redis.Client, stream, id string) int64 {
	t.Helper()
	p, err := c.XPendingExt(context.Background(), &redis.XPendingExtArgs{Stream: stream, Group: "g", Start: id, End: id, Count: 1}).Result()
	if err != nil || len(p) != 1 {
		t.Fatalf("XPENDING %s: %v, %v", id, p, err)
	}
	return p[0].RetryCount
}

// TestRedeliveryRaisesThePELCounter: every redelivery after an expired
// lease goes through XCLAIM without JUSTID, so the stream's own delivery
// counter rises with Delivery.Deliveries (with JUSTID it would stay at 1
// and a message that kills its consumer would never reach the DLQ).
func TestRedeliveryRaisesThePELCounter(t *testing.T) {
	ctx := context.Background()
	d, c, topic, stream := setup(t)
	publish(t, d, topic, driver.Message{ID: "m", Body: []byte("x")})
	for want := 1; want <= 3; want++ {
		var ds []driver.Delivery
		deadline := time.Now().Add(10 * time.Second)
		for len(ds) == 0 && time.Now().Before(deadline) {
			var err error
			if ds, err = d.Receive(ctx, topic, "s", 10, 30*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		if len(ds) != 1 || ds[0].Deliveries != want {
			t.Fatalf("delivery %d: %+v", want, ds)
		}
		id := ds[0].Handle[2:]
		id = id[:len(id)-len(":"+strconv.Itoa(want)+":")]
		if n := pelCount(t, c, stream, id); n != int64(want) {
			t.Fatalf("delivery %d: the PEL counts %d deliveries", want, n)
		}
	}
}

// TestEntryDeletedWhilePending: XDEL of a pending entry leaves it in the
// PEL. The next claim finds it gone, settles it (PEL empty) and moves its
// ordering key on, so the key's next message is not stuck behind it.
func TestEntryDeletedWhilePending(t *testing.T) {
	ctx := context.Background()
	d, c, topic, stream := setup(t)
	publish(t, d, topic, driver.Message{ID: "a", Key: "k", Body: []byte("a")}, driver.Message{ID: "b", Key: "k", Body: []byte("b")})
	ds, err := d.Receive(ctx, topic, "s", 10, 20*time.Millisecond)
	if err != nil || len(ds) != 1 || ds[0].ID != "a" {
		t.Fatalf("Receive = %+v, %v; want only the key's head a", ds, err)
	}
	ents, _ := c.XRange(ctx, stream, "-", "+").Result()
	if len(ents) != 1 {
		t.Fatalf("stream has %d entries, want 1", len(ents))
	}
	c.XDel(ctx, stream, ents[0].ID) // behind the driver's back
	if n := c.XPending(ctx, stream, "g").Val().Count; n != 1 {
		t.Fatalf("after XDEL the PEL holds %d entries; Redis should have kept it", n)
	}
	var got []driver.Delivery
	deadline := time.Now().Add(10 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		if got, err = d.Receive(ctx, topic, "s", 10, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || got[0].ID != "b" {
		t.Fatalf("after the head vanished Receive = %+v; want b", got)
	}
	if p := c.XPending(ctx, stream, "g").Val(); p.Count != 1 || p.Lower == ents[0].ID {
		t.Errorf("PEL %+v still holds the deleted entry", p)
	}
	if err := d.Ack(ctx, topic, "s", []string{got[0].Handle}); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.Stats(ctx, topic, "s"); st.Backlog != 0 {
		t.Errorf("backlog %d after the vanished and the acked message", st.Backlog)
	}
}

// TestTrimKeepsUnacked: acked entries are trimmed away, unacked ones
// (leased, waiting for a retry, or not delivered yet) never are.
func TestTrimKeepsUnacked(t *testing.T) {
	ctx := context.Background()
	d, c, topic, stream := setup(t)
	const n = 600
	msgs := make([]driver.Message, n)
	for i := range msgs {
		msgs[i] = driver.Message{ID: strconv.Itoa(i), Body: []byte("x")}
	}
	publish(t, d, topic, msgs...)
	ds, err := d.Receive(ctx, topic, "s", 500, time.Minute)
	if err != nil || len(ds) != 500 {
		t.Fatalf("Receive = %d, %v", len(ds), err)
	}
	// Keep #499 leased and #498 waiting for a retry; ack the rest. (An
	// old unacked entry stops the trim at itself: MINID cuts a prefix.)
	if err := d.Nack(ctx, topic, "s", ds[498].Handle, driver.Nack{Action: driver.ActionRetry, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	var hs []string
	for _, dl := range ds[:498] {
		hs = append(hs, dl.Handle)
	}
	if err := d.Ack(ctx, topic, "s", hs); err != nil {
		t.Fatal(err)
	}
	st, err := d.Stats(ctx, topic, "s")
	if err != nil || st.Backlog != 102 || st.InFlight != 1 {
		t.Fatalf("Stats = %+v, %v; want backlog 102 (1 leased, 1 retry, 100 new), 1 in flight", st, err)
	}
	ents, _ := c.XRange(ctx, stream, "-", "+").Result()
	have := map[string]bool{}
	for _, e := range ents {
		// One field per entry, "" -> blob; the blob is a version byte,
		// the id's length (one byte for short ids), the id, the rest.
		blob, _ := e.Values[""].(string)
		if len(blob) < 2 || blob[0] != 2 || len(blob) < 2+int(blob[1]) {
			t.Fatalf("entry %s: unexpected fields %q", e.ID, e.Values)
		}
		have[blob[2:2+int(blob[1])]] = true
	}
	for _, id := range append([]string{"498", "499"}, func() (r []string) {
		for i := 500; i < n; i++ {
			r = append(r, strconv.Itoa(i))
		}
		return
	}()...) {
		if !have[id] {
			t.Fatalf("unacked message %s was trimmed from the stream", id)
		}
	}
	if len(ents) >= n {
		t.Errorf("stream still holds %d entries; the acked prefix was never trimmed", len(ents))
	}
}

// TestBadInput: braces in topic names and prefixes, a nil client.
func TestBadInput(t *testing.T) {
	if _, err := redisqueue.New(nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := redisqueue.New(testenv.RedisClient(t), &redisqueue.Options{Prefix: "a{b}"}); !errors.Is(err, redisqueue.ErrBraceInName) {
		t.Errorf("prefix with braces: %v", err)
	}
	q, err := queue.New(newDriver(t, testenv.RedisClient(t)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range []string{"a{b}", "}x", "{"} {
		_, err := q.Publish(context.Background(), tp, queue.Message{Body: []byte("x")})
		if !errors.Is(err, queue.ErrInvalidName) || !errors.Is(err, redisqueue.ErrBraceInName) {
			t.Errorf("Publish to %q: %v; want ErrBraceInName (an ErrInvalidName)", tp, err)
		}
	}
	if _, err := q.Subscribe(context.Background(), "t", "sub{with}braces", nil); err != nil {
		t.Errorf("braces in a subscription name are fine: %v", err)
	}
}
