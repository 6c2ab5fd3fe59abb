package idgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/idgen/driver"
	"github.com/scalekit-go/scalekit/internal/backoff"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// ErrClosed is returned by Segment.Next after Close.
var ErrClosed = errors.New("idgen: generator closed")

// ErrExhausted is returned by Segment.Next when the source handed out a
// block that would run past MaxSegmentID: the sequence is used up.
var ErrExhausted = errors.New("idgen: sequence exhausted")

// MaxBlockSize is the largest SegmentOptions.BlockSize.
const MaxBlockSize = 1 << 40

// MaxSegmentID is the largest ID a Segment hands out. It stays 2^32 below
// MaxInt64 so that the per-block counter, which concurrent callers may
// push past a block's end, can never wrap around.
const MaxSegmentID = math.MaxInt64 - 1<<32

// SegmentOptions configures a Segment. A nil *SegmentOptions means the
// defaults of every field.
type SegmentOptions struct {
	// BlockSize is how many IDs one round trip to the source reserves
	// (default 1000, at most MaxBlockSize). Larger blocks mean fewer round trips and larger gaps
	// when a process restarts: the unused rest of its blocks is lost.
	BlockSize int64
	// PrefetchAt is the share of the current block that, once handed out,
	// triggers the background fetch of the next block (default 0.1, as in
	// Meituan's Leaf). It must be in (0, 1]. Earlier prefetch leaves more
	// time for the fetch to finish before the block runs out.
	PrefetchAt float64
	// Ahead is how many blocks are kept fetched ahead of the current one
	// (default 1: a double buffer, as in Leaf). A fetch that takes longer
	// than the rest of a block (a slow source, a process descheduled at
	// the wrong moment) makes Next wait; with Ahead 2 it has a whole block
	// more. A restart loses the unused rest of the current block and up to
	// Ahead blocks.
	Ahead int
	// Retry is the backoff for failed block fetches (default: 10ms initial,
	// 1s cap, full jitter).
	Retry backoff.Policy
	// Clock is the time source of retries (default the real clock).
	Clock clock.Clock
	// TracerProvider and MeterProvider receive spans for block fetches and
	// the generator's metrics (default the global providers).
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// SegmentStats counts what a Segment did.
type SegmentStats struct {
	// Blocks is the number of blocks fetched from the source.
	Blocks int64
	// Stalls is the number of Next calls that found the current block used
	// up and had to wait for the next one. In steady state it stays zero:
	// prefetching hides the source's latency.
	Stalls int64
	// StallTime is the total time those Next calls waited. A stall of a
	// few microseconds usually means the process itself was descheduled
	// while the fetch finished; a long one means the source is slower than
	// consumption, or failing.
	StallTime time.Duration
	// FetchErrors is the number of failed fetches (each was retried).
	FetchErrors int64
}

type block struct {
	next     atomic.Int64 // next id to hand out
	end      int64        // one past the last id
	prefetch int64        // handing out this id triggers the prefetch
}

// Segment hands out unique int64 IDs from blocks reserved in a shared
// SegmentSource (a ticket server: a PostgreSQL row, a Redis counter). Many
// processes may share one source; they never hand out the same ID. IDs
// from one Segment increase; across processes they are unique but
// interleaved by block.
//
// Next is one atomic add on the hot path. The next block is fetched in the
// background once PrefetchAt of the current block is used, so in steady
// state Next never waits on the network. A Segment is safe for concurrent
// use. Create it with NewSegment; the zero value is not usable.
type Segment struct {
	src       driver.SegmentSource
	name      string
	size      int64
	prefetchN int64
	retry     backoff.Policy
	clk       clock.Clock
	tracer    trace.Tracer

	cur atomic.Pointer[block]

	mu        sync.Mutex
	ahead     int
	pending   []*block      // fetched, not yet current, in order
	fetching  bool          // a fetch is in flight
	fetched   chan struct{} // closed and replaced when a fetch ends
	lastErr   error
	exhausted error // ErrExhausted once the source ran past MaxSegmentID
	closed    bool
	ctx       context.Context // canceled by Close
	cancel    context.CancelFunc

	blocks, stalls, fetchErrs atomic.Int64
	stallNs                   atomic.Int64
	mBlocks, mStalls          metric.Int64Counter
	attrs                     metric.MeasurementOption
}

// NewSegment returns a generator for the sequence called name in src. It
// does no I/O: the first block is fetched by the first Next.
func NewSegment(src driver.SegmentSource, name string, opts *SegmentOptions) (*Segment, error) {
	var o SegmentOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case src == nil:
		return nil, errors.New("idgen: NewSegment with a nil source")
	case name == "":
		return nil, errors.New("idgen: NewSegment with an empty sequence name")
	case o.BlockSize < 0 || o.BlockSize > MaxBlockSize:
		return nil, fmt.Errorf("idgen: BlockSize %d must be in [1, %d]", o.BlockSize, int64(MaxBlockSize))
	case o.Ahead < 0:
		return nil, fmt.Errorf("idgen: Ahead %d must not be negative", o.Ahead)
	case !(o.PrefetchAt >= 0 && o.PrefetchAt <= 1): // NaN fails too
		return nil, fmt.Errorf("idgen: PrefetchAt %v must be in (0, 1]", o.PrefetchAt)
	}
	if o.BlockSize == 0 {
		o.BlockSize = 1000
	}
	if o.PrefetchAt == 0 {
		o.PrefetchAt = 0.1
	}
	if o.Ahead == 0 {
		o.Ahead = 1
	}
	if o.Retry == (backoff.Policy{}) {
		o.Retry = backoff.Policy{Initial: 10 * time.Millisecond, Max: time.Second}
	}
	n := int64(float64(o.BlockSize) * o.PrefetchAt)
	if n >= o.BlockSize {
		n = o.BlockSize - 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Segment{
		src: src, name: name, size: o.BlockSize, prefetchN: n, ahead: o.Ahead,
		retry: o.Retry, clk: clock.Or(o.Clock),
		tracer:  otelx.Tracer(o.TracerProvider, "idgen"),
		fetched: make(chan struct{}),
		ctx:     ctx, cancel: cancel,
	}
	meter := otelx.Meter(o.MeterProvider, "idgen")
	s.mBlocks = otelx.Must(meter.Int64Counter("scalekit.idgen.segment.blocks",
		metric.WithUnit("{block}"), metric.WithDescription("Blocks of IDs fetched from the segment source")))
	s.mStalls = otelx.Must(meter.Int64Counter("scalekit.idgen.segment.stalls",
		metric.WithUnit("{call}"), metric.WithDescription("Next calls that waited for a block fetch")))
	// The sequence's name is the instance name: two Segments over one
	// sequence share its IDs, so their metrics may merge.
	s.attrs = metric.WithAttributeSet(attribute.NewSet(otelx.Name(name, "idgen")))
	return s, nil
}

// Next returns a new ID. It waits only when the current block is used up
// and the next one has not arrived (at start-up, or when the source is
// slower than the consumption rate). It returns ctx.Err() if ctx ends while
// waiting, ErrClosed after Close, and ErrExhausted once the source's
// sequence would pass MaxSegmentID.
func (s *Segment) Next(ctx context.Context) (int64, error) {
	for {
		if b := s.cur.Load(); b != nil {
			id := b.next.Add(1) - 1
			if id < b.end {
				if id == b.prefetch {
					s.startFetch()
				}
				return id, nil
			}
		}
		if err := s.advance(ctx); err != nil {
			return 0, err
		}
	}
}

// advance makes a fresh block current, fetching one if needed.
func (s *Segment) advance(ctx context.Context) error {
	stalled := false
	var since time.Time
	defer func() {
		if stalled {
			s.stallNs.Add(int64(s.clk.Since(since)))
		}
	}()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		if b := s.cur.Load(); b != nil && b.next.Load() < b.end {
			s.mu.Unlock()
			return nil // another goroutine advanced already
		}
		if len(s.pending) == 0 && s.exhausted != nil {
			err := s.exhausted
			s.mu.Unlock()
			return err
		}
		if len(s.pending) > 0 {
			s.cur.Store(s.pending[0])
			s.pending = s.pending[1:]
			if s.ahead > 1 && len(s.pending) < s.ahead && !s.fetching {
				// Several blocks ahead: refill the buffer now rather
				// than at the new block's prefetch point.
				s.fetching = true
				go s.fetch()
			}
			s.mu.Unlock()
			return nil
		}
		if !stalled && s.cur.Load() != nil {
			stalled = true
			since = s.clk.Now()
			s.stalls.Add(1)
			s.mStalls.Add(ctx, 1, s.attrs)
		}
		if !s.fetching {
			s.fetching = true
			go s.fetch()
		}
		wait := s.fetched
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait:
		}
	}
}

// startFetch starts a background fetch unless one is in flight or a block
// is already waiting.
func (s *Segment) startFetch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fetching || len(s.pending) >= s.ahead || s.closed {
		return
	}
	s.fetching = true
	go s.fetch()
}

// fetch reserves one block, retrying with backoff until it succeeds or the
// Segment is closed.
func (s *Segment) fetch() {
	var start int64
	err := backoff.Retry(s.ctx, s.retry, s.clk, func(ctx context.Context) error {
		ctx, span := otelx.Start(ctx, s.tracer, "idgen.Segment.Fetch",
			otelx.Name(s.name, "idgen"), attribute.Int64("scalekit.idgen.block_size", s.size))
		var err error
		start, err = s.src.NextBlock(ctx, s.name, s.size)
		if err == nil && (start < 0 || start > MaxSegmentID-s.size) {
			err = backoff.Permanent(fmt.Errorf("%w: %q: block [%d, +%d) passes %d", ErrExhausted, s.name, start, s.size, int64(MaxSegmentID)))
		}
		otelx.End(span, err)
		if err != nil {
			s.fetchErrs.Add(1)
			s.mu.Lock()
			s.lastErr = err
			s.mu.Unlock()
		}
		return err
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetching = false
	close(s.fetched)
	s.fetched = make(chan struct{})
	if errors.Is(err, ErrExhausted) {
		s.exhausted = err
		return
	}
	if err != nil { // closed
		return
	}
	s.blocks.Add(1)
	s.mBlocks.Add(context.Background(), 1, s.attrs)
	b := &block{end: start + s.size, prefetch: start + s.prefetchN}
	b.next.Store(start)
	s.pending = append(s.pending, b)
	if len(s.pending) < s.ahead && !s.closed {
		// Keep filling the buffer: this fetch was one of several needed
		// (at start-up, or after a block ran out while fetching).
		s.fetching = true
		go s.fetch()
	}
}

// Stats returns counters of the generator's work so far.
func (s *Segment) Stats() SegmentStats {
	return SegmentStats{Blocks: s.blocks.Load(), Stalls: s.stalls.Load(), StallTime: time.Duration(s.stallNs.Load()), FetchErrors: s.fetchErrs.Load()}
}

// LastFetchError returns the most recent error of the source, or nil. A
// Next that waits because the source fails keeps retrying; this tells why.
func (s *Segment) LastFetchError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Close stops background fetching; later Next calls return ErrClosed once
// the current block is used up. The unused IDs of the current and
// prefetched blocks are lost (the source never hands them out again).
func (s *Segment) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	return nil
}
