package memqueue

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/queue/driver"
)

func TestHexRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 15, 16, 255, 1 << 32, math.MaxUint64} {
		got, ok := parseHex(string(appendHex(nil, v)))
		if !ok || got != v {
			t.Fatalf("parseHex(appendHex(%d)) = %d, %v", v, got, ok)
		}
	}
	for _, bad := range []string{"", "g", "A", "-1", "12345678901234567", " 1", "01", "00"} {
		if _, ok := parseHex(bad); ok {
			t.Fatalf("parseHex(%q) accepted", bad)
		}
	}
}

// TestForgedHandles: handles that do not name a live lease (garbage, out
// of range slots, an old lease id on a reused slot) are refused without
// touching the live lease.
func TestForgedHandles(t *testing.T) {
	ctx := context.Background()
	d := New(nil)
	_ = d.Subscribe(ctx, "t", "s")
	_ = d.Publish(ctx, "t", []driver.Message{{ID: "a", NotBefore: time.Now()}, {ID: "b", NotBefore: time.Now()}})
	ds, err := d.Receive(ctx, "t", "s", 1, time.Minute)
	if err != nil || len(ds) != 1 {
		t.Fatalf("Receive = %v, %v", ds, err)
	}
	old := ds[0].Handle
	if err := d.Ack(ctx, "t", "s", []string{old}); err != nil {
		t.Fatal(err)
	}
	ds, _ = d.Receive(ctx, "t", "s", 1, time.Minute) // reuses the slot
	live := ds[0].Handle
	for _, h := range []string{old, "", ".", "x.0", "1.", "1.ffffffff", "1.-1", "0.0", strconv.Itoa(1 << 20), live + "0"} {
		if err := d.Extend(ctx, "t", "s", h, time.Minute); !errors.Is(err, driver.ErrNotLeased) {
			t.Errorf("Extend(%q) = %v, want ErrNotLeased", h, err)
		}
		if err := d.Nack(ctx, "t", "s", h, driver.Nack{Action: driver.ActionDrop}); !errors.Is(err, driver.ErrNotLeased) {
			t.Errorf("Nack(%q) = %v, want ErrNotLeased", h, err)
		}
		if err := d.Ack(ctx, "t", "s", []string{h}); err != nil {
			t.Errorf("Ack(%q) = %v", h, err)
		}
	}
	if st, _ := d.Stats(ctx, "t", "s"); st.Backlog != 1 || st.InFlight != 1 {
		t.Fatalf("stats %+v after forged handles, want backlog 1, in flight 1", st)
	}
	if err := d.Extend(ctx, "t", "s", live, time.Minute); err != nil {
		t.Fatalf("Extend(live) = %v", err)
	}
}
