package httpx

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type testKey struct{}

func TestLazyDeadlineBeforeExpiry(t *testing.T) {
	parent := context.WithValue(context.Background(), testKey{}, "v")
	dl := time.Now().Add(time.Hour)
	c := newLazyDeadline(parent, dl)
	defer c.release()
	if d, ok := c.Deadline(); !ok || !d.Equal(dl) {
		t.Fatalf("Deadline %v %v", d, ok)
	}
	if c.Err() != nil || c.Value(testKey{}) != "v" || context.Cause(c) != nil {
		t.Fatal("fresh context not live")
	}
	if c.real.Load() != nil {
		t.Fatal("materialized without a Done call")
	}
	select {
	case <-c.Done():
		t.Fatal("done early")
	default:
	}
	// A shorter parent deadline wins.
	p2, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if d, _ := newLazyDeadline(p2, dl).Deadline(); !d.Before(dl) {
		t.Fatal("parent deadline ignored")
	}
}

func TestLazyDeadlineFiresThroughDone(t *testing.T) {
	c := newLazyDeadline(context.Background(), time.Now().Add(5*time.Millisecond))
	defer c.release()
	child, cancel := context.WithCancel(c)
	defer cancel()
	<-child.Done() // waits on the real timer
	if !errors.Is(c.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) ||
		!errors.Is(context.Cause(c), context.DeadlineExceeded) {
		t.Fatalf("errs %v %v %v", c.Err(), child.Err(), context.Cause(c))
	}
}

func TestLazyDeadlineExpiredWithoutDone(t *testing.T) {
	c := newLazyDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer c.release()
	if !errors.Is(context.Cause(c), context.DeadlineExceeded) {
		t.Fatalf("Cause before Err: %v", context.Cause(c))
	}
	c2 := newLazyDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	if !errors.Is(c2.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err %v", c2.Err())
	}
	select {
	case <-c2.Done():
	default:
		t.Fatal("Err non-nil but Done open")
	}
}

func TestLazyDeadlineParentCancelAndRelease(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	c := newLazyDeadline(parent, time.Now().Add(time.Hour))
	cancel()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err %v", c.Err())
	}
	<-c.Done()

	c = newLazyDeadline(context.Background(), time.Now().Add(time.Hour))
	done := c.Done()
	fired := make(chan struct{})
	stop := context.AfterFunc(c, func() { close(fired) })
	defer stop()
	c.release()
	<-done
	<-fired
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("after release: %v", c.Err())
	}
	// Used after release without ever materializing: cancelled.
	c = newLazyDeadline(context.Background(), time.Now().Add(time.Hour))
	c.release()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("released, lazy: %v", c.Err())
	}
}

func TestLazyDeadlineConcurrentDone(t *testing.T) {
	c := newLazyDeadline(context.Background(), time.Now().Add(time.Hour))
	defer c.release()
	var wg sync.WaitGroup
	chans := make([]<-chan struct{}, 16)
	for i := range chans {
		wg.Add(1)
		go func() { defer wg.Done(); chans[i] = c.Done(); _ = c.Err() }()
	}
	wg.Wait()
	for _, ch := range chans {
		if ch != chans[0] {
			t.Fatal("Done returned different channels")
		}
	}
}
