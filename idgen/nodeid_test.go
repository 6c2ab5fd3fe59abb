package idgen_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/memidgen"
)

const (
	leaseTTL   = 3 * time.Second
	leaseEvery = time.Second
)

func acquire(t *testing.T, d *memidgen.NodeIDs, fc *clock.Fake) *idgen.NodeLease {
	t.Helper()
	l, err := idgen.AcquireNode(context.Background(), d, "svc", 0, &idgen.NodeLeaseOptions{TTL: leaseTTL, RenewEvery: leaseEvery, Clock: fc})
	if err != nil {
		t.Fatalf("AcquireNode: %v", err)
	}
	t.Cleanup(func() { l.Release(context.Background()) })
	return l
}

// step lets the renewal loop park its timer, then advances the fake clock
// by d. It returns false once the lease has ended (no timer is parked then).
func step(t *testing.T, fc *clock.Fake, l *idgen.NodeLease, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for fc.Waiters() < 1 {
		select {
		case <-l.Done():
			return false
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("renewal loop parked no timer within 5s")
		}
		time.Sleep(100 * time.Microsecond)
	}
	fc.Advance(d)
	return true
}

func TestAcquireNodeBadInput(t *testing.T) {
	d := memidgen.NewNodeIDs(nil)
	ctx := context.Background()
	for name, c := range map[string]struct {
		ns    string
		maxID int64
		o     *idgen.NodeLeaseOptions
	}{
		"empty namespace":     {"", 1, nil},
		"negative maxID":      {"ns", -1, nil},
		"negative TTL":        {"ns", 1, &idgen.NodeLeaseOptions{TTL: -time.Second}},
		"TTL below minimum":   {"ns", 1, &idgen.NodeLeaseOptions{TTL: time.Millisecond}},
		"renew not below TTL": {"ns", 1, &idgen.NodeLeaseOptions{TTL: time.Second, RenewEvery: time.Second}},
		"negative RenewEvery": {"ns", 1, &idgen.NodeLeaseOptions{RenewEvery: -1}},
	} {
		if l, err := idgen.AcquireNode(ctx, d, c.ns, c.maxID, c.o); err == nil {
			l.Release(ctx)
			t.Errorf("%s: AcquireNode succeeded", name)
		}
	}
	if _, err := idgen.AcquireNode(ctx, nil, "ns", 1, nil); err == nil {
		t.Error("AcquireNode with a nil driver succeeded")
	}
}

func TestNodeLeaseRenewsInBackground(t *testing.T) {
	fc := clock.NewFake(time.Unix(1_000_000, 0))
	d := memidgen.NewNodeIDs(fc)
	l := acquire(t, d, fc)
	// 24s (eight TTLs) in steps of 200ms. The step must stay well below the
	// lease's safety margin (TTL - RenewEvery = 2s, minus up to 1.1s between
	// renewals): the loop checks validity when it runs, and a coarse step
	// lets fake time jump past a renewal it has not processed yet, which the
	// lease rightly treats as a stalled process (seen with 1.2s steps).
	for range 120 {
		if !step(t, fc, l, 200*time.Millisecond) {
			t.Fatalf("lease ended while the engine was healthy: %v", l.Err())
		}
	}
	if _, _, err := d.Acquire(context.Background(), "svc", 0, leaseTTL); !errors.Is(err, idgen.ErrNoNodeID) {
		t.Fatalf("another Acquire of the renewed id = %v, want ErrNoNodeID", err)
	}
	if l.Err() != nil {
		t.Fatalf("Err = %v while held", l.Err())
	}
}

// When the engine drops the lease (expiry, an operator), the next renewal
// learns it; the lease ends and a bound Snowflake stops issuing.
func TestNodeLeaseLostStopsSnowflake(t *testing.T) {
	fc := clock.NewFake(time.Now())
	d := memidgen.NewNodeIDs(fc)
	l := acquire(t, d, fc)
	layout := idgen.TwitterLayout
	g, err := idgen.NewSnowflake(l.ID(), &idgen.SnowflakeOptions{Layout: &layout, Lease: l, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Next(context.Background()); err != nil {
		t.Fatalf("Next on a held lease: %v", err)
	}
	d.ExpireNow("svc", l.ID())
	for step(t, fc, l, 1200*time.Millisecond) {
	}
	if !errors.Is(l.Err(), idgen.ErrNodeLeaseLost) {
		t.Fatalf("Err = %v, want ErrNodeLeaseLost", l.Err())
	}
	if _, err := g.Next(context.Background()); !errors.Is(err, idgen.ErrNodeLeaseLost) {
		t.Fatalf("Next after the lease was lost = %v, want ErrNodeLeaseLost", err)
	}
	if _, err := g.NextAt(fc.Now()); !errors.Is(err, idgen.ErrNodeLeaseLost) {
		t.Fatalf("NextAt after the lease was lost = %v, want ErrNodeLeaseLost", err)
	}
}

// While the engine is unreachable the lease is retried; it is declared lost
// before the engine's TTL could run out, so no other process can hold the
// id while this one still issues.
func TestNodeLeaseLostBeforeEngineTTL(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	fc := clock.NewFake(start)
	d := memidgen.NewNodeIDs(fc)
	l := acquire(t, d, fc)
	// One successful renewal, then the engine becomes unreachable.
	if !step(t, fc, l, 1200*time.Millisecond) {
		t.Fatal("lease ended early")
	}
	waitFor(t, func() bool { return fc.Waiters() == 1 })
	lastRenew := fc.Now()
	d.FailNext(1<<30, errors.New("connection refused"))
	for step(t, fc, l, 50*time.Millisecond) {
		if fc.Now().Sub(lastRenew) > leaseTTL {
			t.Fatalf("lease still held %v after the last renewal, past the engine TTL %v", fc.Now().Sub(lastRenew), leaseTTL)
		}
	}
	lostAfter := fc.Now().Sub(lastRenew)
	if lostAfter < leaseTTL-leaseEvery-time.Second {
		t.Fatalf("lease declared lost after %v of failures, earlier than the TTL minus one renewal period", lostAfter)
	}
	if !errors.Is(l.Err(), idgen.ErrNodeLeaseLost) {
		t.Fatalf("Err = %v, want ErrNodeLeaseLost", l.Err())
	}
}

func TestNodeLeaseRelease(t *testing.T) {
	d := memidgen.NewNodeIDs(nil)
	ctx := context.Background()
	l, err := idgen.AcquireNode(ctx, d, "svc", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := idgen.NewSnowflake(l.ID(), &idgen.SnowflakeOptions{Lease: l})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	select {
	case <-l.Done():
	default:
		t.Fatal("Done not closed after Release")
	}
	if _, err := g.Next(ctx); !errors.Is(err, idgen.ErrNodeLeaseLost) {
		t.Fatalf("Next after Release = %v, want ErrNodeLeaseLost", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	// The id is free again.
	l2, err := idgen.AcquireNode(ctx, d, "svc", 0, nil)
	if err != nil || l2.ID() != l.ID() {
		t.Fatalf("AcquireNode after Release = %v, %v", l2, err)
	}
	l2.Release(ctx)
}

func TestSnowflakeRejectsOtherLeasedID(t *testing.T) {
	d := memidgen.NewNodeIDs(nil)
	l, err := idgen.AcquireNode(context.Background(), d, "svc", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(context.Background())
	if _, err := idgen.NewSnowflake(l.ID()+1, &idgen.SnowflakeOptions{Lease: l}); err == nil {
		t.Fatal("NewSnowflake with a node id other than the leased one succeeded")
	}
}

func TestStaticNodeIDs(t *testing.T) {
	ctx := context.Background()
	l, err := idgen.AcquireNode(ctx, idgen.StaticNodeIDs{ID: 7}, "svc", 1023, nil)
	if err != nil || l.ID() != 7 {
		t.Fatalf("AcquireNode(static 7) = %v, %v", l, err)
	}
	l.Release(ctx)
	if _, err := idgen.AcquireNode(ctx, idgen.StaticNodeIDs{ID: 2000}, "svc", 1023, nil); err == nil {
		t.Fatal("static id above maxID accepted")
	}
}
