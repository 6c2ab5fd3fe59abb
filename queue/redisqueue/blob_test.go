package redisqueue

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalekit-go/scalekit/internal/testenv"
	"github.com/scalekit-go/scalekit/queue/driver"
)

// TestBlobRoundTrip: what encode writes, decode reads back; every
// truncation of a blob is an error, never a panic.
func TestBlobRoundTrip(t *testing.T) {
	at := time.UnixMicro(1_700_000_000_123_456)
	for _, m := range []driver.Message{
		{ID: "a", Body: []byte("x"), PublishedAt: at},
		{ID: string(make([]byte, 300)), Key: "k:1", Priority: -9, Headers: map[string]string{"traceparent": "00-abc", "": "e"}, Body: nil, PublishedAt: at},
		{ID: "p", Priority: 9, Body: make([]byte, 1000), PublishedAt: time.UnixMicro(-5)},
	} {
		blob := string(encode(nil, &m))
		var got driver.Message
		if err := decode(blob, &got); err != nil {
			t.Fatalf("decode(encode(%q)): %v", m.ID, err)
		}
		want := m
		want.NotBefore = m.PublishedAt
		if len(want.Body) == 0 {
			want.Body = []byte{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip of %q: got %+v", m.ID, got)
		}
		for i := 0; i < len(blob)-len(m.Body); i++ {
			var x driver.Message
			if err := decode(blob[:i], &x); err == nil {
				t.Fatalf("decode of %d of %d bytes succeeded", i, len(blob))
			}
		}
	}
	if err := decode("\x07whatever", new(driver.Message)); err == nil {
		t.Error("decode of an unknown version succeeded")
	}
}

// TestOldEntryLayout: entries written by the earlier layout (fields m =
// version 1 blob, i = message id, k = key) are still delivered and
// dead-lettered with their ids.
func TestOldEntryLayout(t *testing.T) {
	ctx := context.Background()
	c := testenv.RedisClient(t)
	d, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	topic := fmt.Sprintf("old.%d", time.Now().UnixNano())
	if err := d.Subscribe(ctx, topic, "s"); err != nil {
		t.Fatal(err)
	}
	v1 := []byte{blobV1}
	v1 = binary.AppendVarint(v1, time.Now().UnixMicro())
	v1 = binary.AppendVarint(v1, 0)
	v1 = appendString(v1, "")
	v1 = binary.AppendUvarint(v1, 0)
	v1 = append(v1, "old body"...)
	k, _ := d.keys(topic, "s")
	for _, id := range []string{"old-1", "old-2"} {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: k[1] + "p0", Values: []string{"m", string(v1), "i", id}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c.IncrBy(ctx, k[1]+"live", 2)
	ds, err := d.Receive(ctx, topic, "s", 10, time.Minute)
	if err != nil || len(ds) != 2 || ds[0].ID != "old-1" || string(ds[0].Body) != "old body" || ds[1].ID != "old-2" {
		t.Fatalf("Receive of old entries = %+v, %v", ds, err)
	}
	if err := d.Nack(ctx, topic, "s", ds[1].Handle, driver.Nack{Action: driver.ActionDeadLetter, Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	if dl, err := d.DeadLetter(ctx, topic, "s", "old-2"); err != nil || string(dl.Message.Body) != "old body" {
		t.Fatalf("DeadLetter(old-2) = %+v, %v", dl, err)
	}
	if err := d.Ack(ctx, topic, "s", []string{ds[0].Handle}); err != nil {
		t.Fatal(err)
	}
	if st, err := d.Stats(ctx, topic, "s"); err != nil || st.Backlog != 0 || st.DeadLetters != 1 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
}
