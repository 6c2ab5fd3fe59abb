package idgen_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/idgentest"
	"github.com/scalekit-go/scalekit/idgen/memidgen"
	"github.com/scalekit-go/scalekit/internal/backoff"
)

func newSegment(t *testing.T, src *memidgen.Source, o *idgen.SegmentOptions) *idgen.Segment {
	t.Helper()
	s, err := idgen.NewSegment(src, "orders", o)
	if err != nil {
		t.Fatalf("NewSegment: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSegmentBadInput(t *testing.T) {
	src := memidgen.NewSource()
	for name, c := range map[string]struct {
		src  *memidgen.Source
		seq  string
		opts *idgen.SegmentOptions
	}{
		"nil source":        {nil, "s", nil},
		"empty name":        {src, "", nil},
		"negative block":    {src, "s", &idgen.SegmentOptions{BlockSize: -1}},
		"negative prefetch": {src, "s", &idgen.SegmentOptions{PrefetchAt: -0.1}},
		"prefetch over 1":   {src, "s", &idgen.SegmentOptions{PrefetchAt: 1.5}},
	} {
		var err error
		if c.src == nil {
			_, err = idgen.NewSegment(nil, c.seq, c.opts)
		} else {
			_, err = idgen.NewSegment(c.src, c.seq, c.opts)
		}
		if err == nil {
			t.Errorf("%s: NewSegment succeeded", name)
		}
	}
}

func TestSegmentSequentialAndPrefetched(t *testing.T) {
	src := memidgen.NewSource()
	s := newSegment(t, src, &idgen.SegmentOptions{BlockSize: 100, PrefetchAt: 0.5})
	ctx := context.Background()
	for want := int64(1); want <= 1000; want++ {
		id, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if id != want {
			t.Fatalf("Next = %d, want %d (one generator alone hands out consecutive IDs)", id, want)
		}
		if want%100 == 60 {
			// Past the prefetch point: the next block arrives in the
			// background, before this one runs out.
			waitFor(t, func() bool { return s.Stats().Blocks == want/100+2 })
		}
	}
	st := s.Stats()
	if st.Stalls != 0 {
		t.Errorf("Stalls = %d, want 0: every block after the first was prefetched", st.Stalls)
	}
	if st.Blocks < 10 || st.Blocks > 11 {
		t.Errorf("Blocks = %d, want 10 or 11", st.Blocks)
	}
}

// waitFor polls cond for up to 5s; the condition depends on a background
// goroutine of the package, not on time passing.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSegmentConcurrentUnique(t *testing.T) {
	src := memidgen.NewSource()
	// Two generators on one source, as two processes would be.
	a := newSegment(t, src, &idgen.SegmentOptions{BlockSize: 64})
	b := newSegment(t, src, &idgen.SegmentOptions{BlockSize: 64})
	const workers, each = 8, 5000
	ids := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		g := a
		if w%2 == 1 {
			g = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := int64(0)
			for range each {
				id, err := g.Next(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if id <= prev {
					t.Errorf("IDs of one goroutine went from %d to %d", prev, id)
					return
				}
				prev = id
				ids[w] = append(ids[w], id)
			}
		}()
	}
	wg.Wait()
	var all []int64
	for _, l := range ids {
		all = append(all, l...)
	}
	if dup, ok := idgentest.FindDuplicate(all); ok {
		t.Fatalf("ID %d handed out twice", dup)
	}
	if len(all) != workers*each {
		t.Fatalf("%d IDs, want %d", len(all), workers*each)
	}
}

// A failing source is retried with backoff; Next waits meanwhile and
// LastFetchError says why.
func TestSegmentRetriesFailingSource(t *testing.T) {
	src := memidgen.NewSource()
	boom := errors.New("connection refused")
	src.FailNext(3, boom)
	fc := clock.NewFake(time.Unix(0, 0))
	s := newSegment(t, src, &idgen.SegmentOptions{
		BlockSize: 10, Clock: fc,
		Retry: backoff.Policy{Initial: time.Second, Max: time.Second, NoJitter: true},
	})
	got := make(chan int64, 1)
	go func() {
		id, err := s.Next(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- id
	}()
	for i := range 3 {
		if err := fc.BlockUntil(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		if n := s.Stats().FetchErrors; n != int64(i+1) {
			t.Fatalf("FetchErrors = %d after %d failures", n, i+1)
		}
		if !errors.Is(s.LastFetchError(), boom) {
			t.Fatalf("LastFetchError = %v, want %v", s.LastFetchError(), boom)
		}
		select {
		case id := <-got:
			t.Fatalf("Next returned %d while the source was failing", id)
		default:
		}
		fc.Advance(time.Second)
	}
	select {
	case id := <-got:
		if id != 1 {
			t.Fatalf("Next = %d after recovery, want 1", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after the source recovered")
	}
}

func TestSegmentNextHonoursContext(t *testing.T) {
	src := memidgen.NewSource()
	src.FailNext(1<<30, errors.New("down"))
	s := newSegment(t, src, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.Next(ctx); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Next = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next ignored its context")
	}
}

func TestSegmentClose(t *testing.T) {
	src := memidgen.NewSource()
	s := newSegment(t, src, &idgen.SegmentOptions{BlockSize: 5, PrefetchAt: 1})
	ctx := context.Background()
	if _, err := s.Next(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The rest of the current block is still handed out, then ErrClosed.
	var err error
	for range 10 {
		if _, err = s.Next(ctx); err != nil {
			break
		}
	}
	if !errors.Is(err, idgen.ErrClosed) {
		t.Fatalf("Next after Close = %v, want ErrClosed", err)
	}
	// Closing twice is harmless.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close stops a fetch that is retrying a failing source.
func TestSegmentCloseStopsRetries(t *testing.T) {
	src := memidgen.NewSource()
	src.FailNext(1<<30, errors.New("down"))
	s := newSegment(t, src, &idgen.SegmentOptions{Retry: backoff.Policy{Initial: time.Millisecond, Max: time.Millisecond}})
	done := make(chan error, 1)
	go func() { _, err := s.Next(context.Background()); done <- err }()
	waitFor(t, func() bool { return s.Stats().FetchErrors > 2 })
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, idgen.ErrClosed) {
			t.Fatalf("Next = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next kept waiting after Close")
	}
}

// gatedSource blocks every NextBlock after the first until a value is sent
// on gate.
type gatedSource struct {
	*memidgen.Source
	gate  chan struct{}
	calls int
	mu    sync.Mutex
}

func (g *gatedSource) NextBlock(ctx context.Context, name string, size int64) (int64, error) {
	g.mu.Lock()
	g.calls++
	first := g.calls == 1
	g.mu.Unlock()
	if !first {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return g.Source.NextBlock(ctx, name, size)
}

func TestSegmentStallTime(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	src := &gatedSource{Source: memidgen.NewSource(), gate: make(chan struct{})}
	seg, err := idgen.NewSegment(src, "orders", &idgen.SegmentOptions{BlockSize: 10, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	ctx := context.Background()
	for range 10 { // the first block; its prefetch is held at the gate
		if _, err := seg.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan int64, 1)
	go func() {
		id, err := seg.Next(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- id
	}()
	deadline := time.Now().Add(10 * time.Second)
	for seg.Stats().Stalls == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Next did not stall on a held fetch")
		}
		time.Sleep(time.Millisecond)
	}
	clk.Advance(7 * time.Millisecond)
	src.gate <- struct{}{}
	if id := <-got; id != 11 {
		t.Fatalf("id after the stall = %d, want 11", id)
	}
	st := seg.Stats()
	if st.Stalls != 1 || st.StallTime != 7*time.Millisecond {
		t.Fatalf("Stats = %+v, want 1 stall of 7ms", st)
	}
}

// countingSource counts NextBlock calls that succeeded.
type countingSource struct {
	*memidgen.Source
	mu sync.Mutex
	n  int
}

func (c *countingSource) NextBlock(ctx context.Context, name string, size int64) (int64, error) {
	start, err := c.Source.NextBlock(ctx, name, size)
	if err == nil {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
	return start, err
}

func (c *countingSource) blocks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// With Ahead 2 the Segment keeps two blocks fetched beyond the current one
// and rides out a source outage for that long without waiting.
func TestSegmentAhead(t *testing.T) {
	src := &countingSource{Source: memidgen.NewSource()}
	clk := clock.NewFake(time.Unix(1_700_000_000, 0)) // retries never fire
	seg, err := idgen.NewSegment(src, "orders", &idgen.SegmentOptions{BlockSize: 10, Ahead: 2, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	ctx := context.Background()
	if id, err := seg.Next(ctx); err != nil || id != 1 {
		t.Fatalf("first Next = %d, %v", id, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for src.blocks() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d blocks fetched, want the current one and 2 ahead", src.blocks())
		}
		time.Sleep(time.Millisecond)
	}
	src.FailNext(1_000_000, errors.New("source down"))
	for want := int64(2); want <= 30; want++ {
		if id, err := seg.Next(ctx); err != nil || id != want {
			t.Fatalf("Next during the outage = %d, %v; want %d", id, err, want)
		}
	}
	if st := seg.Stats(); st.Stalls != 0 {
		t.Fatalf("%d stalls within the blocks fetched ahead", st.Stalls)
	}
	if src.blocks() != 3 {
		t.Fatalf("%d blocks fetched, want exactly 3 (no more than 2 ahead)", src.blocks())
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := seg.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next past the fetched blocks with the source down = %v, want the context's deadline", err)
	}
	if _, err := idgen.NewSegment(src, "orders", &idgen.SegmentOptions{Ahead: -1}); err == nil {
		t.Fatal("NewSegment accepted Ahead -1")
	}
}
