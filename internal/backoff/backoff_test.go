package backoff

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
)

func TestCeilingGrowsAndCaps(t *testing.T) {
	p := Policy{Initial: 10 * time.Millisecond, Max: 75 * time.Millisecond, Multiplier: 2}
	want := []time.Duration{10, 20, 40, 75, 75}
	for i, w := range want {
		if got := p.Ceiling(i); got != w*time.Millisecond {
			t.Errorf("Ceiling(%d) = %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if got := p.Ceiling(10000); got != 75*time.Millisecond {
		t.Errorf("huge attempt = %v", got)
	}
}

func TestFullJitterWithinCeiling(t *testing.T) {
	p := Policy{Initial: time.Millisecond, Max: time.Second}
	seenLow := false
	for i := 0; i < 2000; i++ {
		d := p.Delay(3)
		if d < 0 || d > p.Ceiling(3) {
			t.Fatalf("Delay = %v outside [0, %v]", d, p.Ceiling(3))
		}
		if d < p.Ceiling(3)/2 {
			seenLow = true
		}
	}
	if !seenLow {
		t.Fatal("jitter never produced a delay in the lower half")
	}
	if (Policy{Initial: time.Millisecond, NoJitter: true}).Delay(2) != 4*time.Millisecond {
		t.Fatal("NoJitter delay wrong")
	}
}

func TestMaxAttemptsAndElapsed(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	b := New(Policy{MaxAttempts: 3, NoJitter: true}, fc)
	n := 0
	for {
		if _, ok := b.Next(); !ok {
			break
		}
		n++
	}
	if n != 2 {
		t.Fatalf("retries = %d, want 2 (3 attempts)", n)
	}
	b = New(Policy{Initial: time.Second, MaxElapsed: 2500 * time.Millisecond, NoJitter: true}, fc)
	d, ok := b.Next()
	if !ok || d != time.Second {
		t.Fatalf("first = %v %v", d, ok)
	}
	fc.Advance(2 * time.Second)
	d, ok = b.Next()
	if !ok || d != 500*time.Millisecond {
		t.Fatalf("second = %v %v, want shortened to 500ms", d, ok)
	}
	fc.Advance(time.Second)
	if _, ok = b.Next(); ok {
		t.Fatal("retry allowed past MaxElapsed")
	}
}

func TestRetry(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	calls := 0
	errc := make(chan error, 1)
	go func() {
		errc <- Retry(context.Background(), Policy{Initial: time.Second, NoJitter: true}, fc, func(context.Context) error {
			calls++
			if calls < 3 {
				return errors.New("transient")
			}
			return nil
		})
	}()
	for i := 0; i < 2; i++ {
		if err := fc.BlockUntil(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		fc.Advance(time.Hour)
	}
	if err := <-errc; err != nil || calls != 3 {
		t.Fatalf("Retry = %v after %d calls", err, calls)
	}
	sentinel := errors.New("bad request")
	err := Retry(context.Background(), Policy{}, fc, func(context.Context) error { return Permanent(sentinel) })
	if err != sentinel {
		t.Fatalf("permanent: got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Retry(ctx, Policy{}, fc, func(context.Context) error { return errors.New("x") })
	if err != context.Canceled {
		t.Fatalf("cancelled: got %v", err)
	}
}
