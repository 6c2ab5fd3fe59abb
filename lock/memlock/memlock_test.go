package memlock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/lock/driver"
	"github.com/scalekit-go/scalekit/lock/memlock"
)

func TestFaultInjection(t *testing.T) {
	ctx := context.Background()
	fc := clock.NewFake(time.Time{})
	m := memlock.New(&memlock.Options{Clock: fc})
	req := driver.Request{Key: "k", Owner: "a", TTL: time.Second}
	boom := errors.New("boom")
	m.FailNext(boom, memlock.ErrTransient)
	if _, err := m.TryAcquire(ctx, req); err != boom {
		t.Fatalf("first call after FailNext = %v, want boom", err)
	}
	if _, err := m.TryAcquire(ctx, req); !m.IsRetryable(err) {
		t.Fatalf("second call = %v, want the retryable ErrTransient", err)
	}
	if m.IsRetryable(boom) {
		t.Fatal("IsRetryable(boom) = true")
	}
	tok, err := m.TryAcquire(ctx, req)
	if err != nil || tok != 1 {
		t.Fatalf("TryAcquire = %d, %v", tok, err)
	}
	if m.Held() != 1 || m.TTL("k") != time.Second {
		t.Fatalf("Held %d TTL %v", m.Held(), m.TTL("k"))
	}
	fc.Advance(400 * time.Millisecond)
	if m.TTL("k") != 600*time.Millisecond {
		t.Fatalf("TTL after 400ms = %v", m.TTL("k"))
	}
	if !m.Expire("k") || m.Expire("k") {
		t.Fatal("Expire should end the live lease once")
	}
	if err := m.Renew(ctx, "k", "a", time.Second); !errors.Is(err, driver.ErrNotHeld) {
		t.Fatalf("Renew after Expire = %v, want ErrNotHeld", err)
	}
	tok, _ = m.TryAcquire(ctx, driver.Request{Key: "k", Owner: "b", TTL: time.Second})
	m.Restart()
	if m.Held() != 0 {
		t.Fatalf("Held after Restart = %d", m.Held())
	}
	tok2, _ := m.TryAcquire(ctx, driver.Request{Key: "k", Owner: "c", TTL: time.Second})
	if tok2 <= tok {
		t.Fatalf("token after Restart %d, want > %d", tok2, tok)
	}
	fc.Advance(time.Second)
	if _, held, _ := m.Holder(ctx, "k"); held || m.Held() != 0 {
		t.Fatal("lease alive after its TTL")
	}
}

func TestNotifyOnRelease(t *testing.T) {
	ctx := context.Background()
	m := memlock.New(nil)
	if _, err := m.TryAcquire(ctx, driver.Request{Key: "k", Owner: "a", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	ready, stop, err := m.Notify(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	select {
	case <-ready:
		t.Fatal("notified while held")
	default:
	}
	if err := m.Release(ctx, "k", "a"); err != nil {
		t.Fatal(err)
	}
	<-ready
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.TryAcquire(cctx, driver.Request{Key: "k", Owner: "a", TTL: time.Minute}); err != context.Canceled {
		t.Fatalf("cancelled ctx: %v", err)
	}
}
