package idgen_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/idgen"
)

// nearEnd is a SegmentSource whose sequence is almost used up: its next
// block starts a little below MaxInt64.
type nearEnd struct{ next int64 }

func (s *nearEnd) NextBlock(_ context.Context, _ string, size int64) (int64, error) {
	start := s.next
	s.next += size // may overflow; the Segment must not use such a block
	return start, nil
}

func TestSegmentRejectsNaNPrefetchAt(t *testing.T) {
	if _, err := idgen.NewSegment(&nearEnd{next: 1}, "s", &idgen.SegmentOptions{PrefetchAt: math.NaN()}); err == nil {
		t.Fatal("PrefetchAt NaN accepted")
	}
}

// A BlockSize near MaxInt64 is refused at construction; it used to make
// the block's end overflow, so Next never found an ID in it and hung.
func TestSegmentHugeBlockSize(t *testing.T) {
	for _, size := range []int64{math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 / 2} {
		if _, err := idgen.NewSegment(&nearEnd{next: 1}, "s", &idgen.SegmentOptions{BlockSize: size}); err == nil {
			t.Errorf("BlockSize %d accepted", size)
		}
	}
}

// A block that would run past MaxInt64 (a sequence used up) makes Next
// fail with ErrExhausted instead of hanging or wrapping to negative IDs.
func TestSegmentExhaustedSequence(t *testing.T) {
	src := &nearEnd{next: math.MaxInt64 - 100}
	seg, err := idgen.NewSegment(src, "s", &idgen.SegmentOptions{BlockSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := seg.Next(ctx)
	if !errors.Is(err, idgen.ErrExhausted) {
		t.Fatalf("Next = %d, %v; want ErrExhausted", id, err)
	}
}
