package natsqueue_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scalekit-go/scalekit/queue/driver"
	"github.com/scalekit-go/scalekit/queue/natsqueue"
)

// slowLink listens on loopback and forwards every connection to target,
// delaying each chunk the server sends back by delay (in order), as a
// congested link or a busy cluster node would.
func slowLink(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
			go func() { _, _ = io.Copy(s, c) }()
			type chunk struct {
				at time.Time
				b  []byte
			}
			ch := make(chan chunk, 1024)
			go func() {
				defer close(ch)
				for {
					buf := make([]byte, 32<<10)
					n, err := s.Read(buf)
					if n > 0 {
						ch <- chunk{time.Now().Add(delay), buf[:n]}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				for k := range ch {
					time.Sleep(time.Until(k.at))
					if _, err := c.Write(k.b); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "nats://" + ln.Addr().String()
}

// TestReceiveThroughSlowLink: a Receive whose answer takes longer than a
// second still hands out the message, as its first delivery. jetstream's
// FetchNoWait gives up after one second; the server then delivers to an
// inbox nobody reads, and the message comes back only after its AckWait
// with its delivery count raised (seen on a loaded three-node cluster).
func TestReceiveThroughSlowLink(t *testing.T) {
	url := startNATS(t, 1)
	slow := slowLink(t, strings.TrimPrefix(url, "nats://"), 1500*time.Millisecond)
	nc, err := nats.Connect(slow, nats.Timeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	d, err := natsqueue.New(nc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Subscribe(ctx, "slow", "s"); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := d.Publish(ctx, "slow", []driver.Message{{ID: "m1", Body: []byte("x"), PublishedAt: time.Now()}}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	ds, err := d.Receive(ctx, "slow", "s", 10, 30*time.Second)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if len(ds) != 1 || string(ds[0].Body) != "x" || ds[0].Deliveries != 1 {
		t.Fatalf("Receive through a slow link = %+v; want the message, first delivery", ds)
	}
	if err := d.Ack(ctx, "slow", "s", []string{ds[0].Handle}); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}
