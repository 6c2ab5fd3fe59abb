package clock

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestFakeTimerFiresOnAdvance(t *testing.T) {
	f := NewFake(time.Time{})
	start := f.Now()
	tm := f.NewTimer(10 * time.Millisecond)
	f.Advance(9 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("timer fired early")
	default:
	}
	f.Advance(time.Millisecond)
	select {
	case got := <-tm.C():
		if want := start.Add(10 * time.Millisecond); !got.Equal(want) {
			t.Fatalf("fired at %v, want %v", got, want)
		}
	default:
		t.Fatal("timer did not fire")
	}
	if f.Waiters() != 0 {
		t.Fatalf("waiters = %d after fire", f.Waiters())
	}
}

func TestFakeStopAndReset(t *testing.T) {
	f := NewFake(time.Time{})
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of active timer reported false")
	}
	if tm.Stop() {
		t.Fatal("second Stop reported true")
	}
	f.Advance(2 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	tm.Reset(time.Second)
	f.Advance(time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("reset timer did not fire")
	}
}

func TestFakeTicker(t *testing.T) {
	f := NewFake(time.Time{})
	tk := f.NewTicker(time.Second)
	defer tk.Stop()
	n := 0
	for i := 0; i < 3; i++ {
		f.Advance(time.Second)
		select {
		case <-tk.C():
			n++
		default:
		}
	}
	if n != 3 {
		t.Fatalf("got %d ticks, want 3", n)
	}
}

func TestFakeAfterFuncAndBlockUntil(t *testing.T) {
	f := NewFake(time.Time{})
	var fired atomic.Int32
	done := make(chan struct{})
	f.AfterFunc(time.Minute, func() { fired.Add(1); close(done) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Minute)
	<-done
	if fired.Load() != 1 {
		t.Fatal("AfterFunc not called once")
	}
}

func TestSleepHonoursContextAndFakeTime(t *testing.T) {
	f := NewFake(time.Time{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Sleep(ctx, f, time.Hour) }()
	if err := f.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
	go func() { errc <- Sleep(context.Background(), f, time.Hour) }()
	_ = f.BlockUntil(context.Background(), 1)
	f.Advance(time.Hour)
	if err := <-errc; err != nil {
		t.Fatalf("Sleep = %v", err)
	}
}

func TestSetBackwards(t *testing.T) {
	f := NewFake(time.Time{})
	t0 := f.Now()
	f.Set(t0.Add(-time.Second))
	if !f.Now().Equal(t0.Add(-time.Second)) {
		t.Fatal("Set backwards did not move time")
	}
	if Or(nil).Now().IsZero() {
		t.Fatal("Or(nil) not real")
	}
}
