package idgen

import (
	"context"
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/attribute"
	"runtime"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
)

// Errors returned by Snowflake.
var (
	// ErrClockBackwards means the clock is behind the last tick an ID was
	// issued in by more than the policy tolerates (or at all, under
	// FailOnBackwards). Issuing would risk a duplicate or a smaller ID.
	ErrClockBackwards = errors.New("idgen: clock moved backwards")
	// ErrSequenceExhausted is returned by NextAt when every sequence number
	// of the current tick has been used; Next waits for the next tick
	// instead.
	ErrSequenceExhausted = errors.New("idgen: sequence exhausted for this tick")
	// ErrTimeOverflow means the layout's timestamp bits are used up: the
	// clock is past Layout.End.
	ErrTimeOverflow = errors.New("idgen: timestamp overflows the layout")
)

// BackwardsPolicy says what a Snowflake does when the clock reads earlier
// than the tick of the last ID it issued (an NTP step, a VM migration).
// Whatever the policy, a generator never issues a duplicate or an ID smaller
// than one it issued before.
type BackwardsPolicy int

const (
	// WaitForClock waits, inside Next, until the clock catches up with the
	// last tick, if it is behind by at most MaxBackwards; further behind it
	// returns ErrClockBackwards at once. This is the default.
	WaitForClock BackwardsPolicy = iota
	// FailOnBackwards returns ErrClockBackwards whenever the clock is behind.
	FailOnBackwards
	// BorrowFromFuture keeps issuing from the last tick, and from later
	// ticks when a tick's sequence runs out, as long as the tick used is at
	// most MaxBackwards ahead of the clock. Past that bound Next waits like
	// WaitForClock. Throughput never stalls on small skews, at the price of
	// IDs whose time part is up to MaxBackwards in the future.
	BorrowFromFuture
)

// String returns the policy's name, as in the constants above.
func (p BackwardsPolicy) String() string {
	switch p {
	case WaitForClock:
		return "WaitForClock"
	case FailOnBackwards:
		return "FailOnBackwards"
	case BorrowFromFuture:
		return "BorrowFromFuture"
	}
	return fmt.Sprintf("BackwardsPolicy(%d)", int(p))
}

// SnowflakeOptions configures a Snowflake. A nil *SnowflakeOptions means
// the defaults of every field.
type SnowflakeOptions struct {
	// Layout is the bit layout (default TwitterLayout).
	Layout *Layout
	// Backwards is the clock-backwards policy (default WaitForClock).
	Backwards BackwardsPolicy
	// MaxBackwards bounds how far behind the clock may be for WaitForClock
	// to wait and for BorrowFromFuture to borrow (default 1s).
	MaxBackwards time.Duration
	// Lease, when set, binds the generator to a leased node id: the node
	// argument of NewSnowflake must equal Lease.ID(), and once the lease is
	// lost Next returns an error wrapping ErrNodeLeaseLost.
	Lease *NodeLease
	// Clock is the time source (default the real clock).
	Clock clock.Clock
	// MeterProvider receives the generator's metrics (default the global
	// provider).
	MeterProvider metric.MeterProvider
	// Name is the scalekit.name attribute of the generator's metrics, so
	// two generators in one service never merge. Default "idgen".
	Name string
}

// Snowflake issues 64-bit, roughly time-ordered, unique IDs without
// coordination: each ID packs the tick it was issued in, the generator's
// node id and a per-tick sequence (see Layout). IDs from one generator
// strictly increase; IDs from generators with distinct node ids never
// collide.
//
// A Snowflake is safe for concurrent use; its state is one atomic word, so
// Next takes no lock. Create it with NewSnowflake; the zero value is not
// usable.
type Snowflake struct {
	layout   Layout
	node     int64
	nodePart int64 // node << SeqBits
	policy   BackwardsPolicy
	maxBack  int64 // MaxBackwards in ticks
	clk      clock.Clock
	realClk  bool
	lease    *NodeLease
	epochNs  int64 // Epoch as Unix nanoseconds
	tickNs   int64
	seqBits  uint8
	seqMask  uint64
	tsShift  uint8
	maxTicks int64

	// state is the (tick, sequence) of the last ID issued, plus one:
	// tick<<SeqBits | seq + 1. Zero means none yet.
	state atomic.Uint64

	// anchor pairs a wall-clock reading with a monotonic one, for the
	// real clock only: reading the monotonic clock alone (time.Since)
	// costs a third of time.Now on common virtual machines. It is renewed
	// every anchorFor so that steps of the wall clock show within that
	// time, and then go through the BackwardsPolicy like any other.
	anchor atomic.Pointer[anchor]

	waits   metric.Int64Counter
	nameOpt metric.AddOption
}

// anchorFor is how long a wall/monotonic anchor is used before the wall
// clock is read again.
const anchorFor = time.Second

type anchor struct {
	mono   time.Time // carries a monotonic reading
	wallNs int64     // mono's wall time, Unix nanoseconds
}

// nowNs returns the clock's current time in Unix nanoseconds.
func (g *Snowflake) nowNs() int64 {
	if !g.realClk {
		return g.clk.Now().UnixNano()
	}
	a := g.anchor.Load()
	if a != nil {
		if el := time.Since(a.mono); el < anchorFor {
			return a.wallNs + int64(el)
		}
	}
	now := time.Now()
	g.anchor.Store(&anchor{mono: now, wallNs: now.UnixNano()})
	return now.UnixNano()
}

// NewSnowflake returns a generator for node id node. It returns an error if
// the layout is invalid, node is outside [0, Layout.MaxNode()], the epoch is
// in the future or the layout's lifetime is over, or Lease is set with a
// different id. It does no I/O.
func NewSnowflake(node int64, opts *SnowflakeOptions) (*Snowflake, error) {
	var o SnowflakeOptions
	if opts != nil {
		o = *opts
	}
	l := TwitterLayout
	if o.Layout != nil {
		l = *o.Layout
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if node < 0 || node > l.MaxNode() {
		return nil, fmt.Errorf("idgen: node id %d out of range [0, %d] for %d node bits", node, l.MaxNode(), l.NodeBits)
	}
	if o.Lease != nil && o.Lease.ID() != node {
		return nil, fmt.Errorf("idgen: node id %d differs from the leased id %d", node, o.Lease.ID())
	}
	if o.Backwards < WaitForClock || o.Backwards > BorrowFromFuture {
		return nil, fmt.Errorf("idgen: unknown %v", o.Backwards)
	}
	if o.MaxBackwards < 0 {
		return nil, fmt.Errorf("idgen: MaxBackwards = %v, must not be negative", o.MaxBackwards)
	}
	if o.MaxBackwards == 0 {
		o.MaxBackwards = time.Second
	}
	clk := clock.Or(o.Clock)
	now := clk.Now()
	if l.Epoch.After(now) {
		return nil, fmt.Errorf("%w: epoch %v is in the future (now %v)", ErrInvalidLayout, l.Epoch, now)
	}
	if !now.Before(l.End()) {
		return nil, fmt.Errorf("%w: layout ended at %v", ErrTimeOverflow, l.End())
	}
	g := &Snowflake{
		layout:   l,
		node:     node,
		nodePart: node << l.SeqBits,
		policy:   o.Backwards,
		maxBack:  int64(o.MaxBackwards / l.Tick),
		clk:      clk,
		realClk:  clock.IsReal(clk),
		lease:    o.Lease,
		epochNs:  l.Epoch.UnixNano(),
		tickNs:   int64(l.Tick),
		seqBits:  l.SeqBits,
		seqMask:  uint64(l.MaxSequence()),
		tsShift:  l.SeqBits + l.NodeBits,
		maxTicks: int64(1) << l.TimeBits,
	}
	meter := otelx.Meter(o.MeterProvider, "idgen")
	g.waits = otelx.Must(meter.Int64Counter("scalekit.idgen.snowflake.waits",
		metric.WithUnit("{wait}"), metric.WithDescription("Times Next waited for the clock: sequence exhausted or clock behind")))
	g.nameOpt = metric.WithAttributeSet(attribute.NewSet(otelx.Name(o.Name, "idgen")))
	return g, nil
}

// Layout returns the generator's layout.
func (g *Snowflake) Layout() Layout { return g.layout }

// Node returns the generator's node id.
func (g *Snowflake) Node() int64 { return g.node }

// Decode splits id into time, node and sequence under the generator's
// layout.
func (g *Snowflake) Decode(id int64) (Parts, error) { return g.layout.Decode(id) }

// Next returns a new ID. When the current tick's sequence is used up it
// waits for the next tick; when the clock is behind it applies the
// BackwardsPolicy. It returns ctx.Err() if ctx ends while waiting, and an
// error wrapping ErrNodeLeaseLost once a bound node lease is lost.
func (g *Snowflake) Next(ctx context.Context) (int64, error) {
	// The anchor exists only for the real clock (see nowNs); reading it
	// here keeps the common path to one monotonic clock read.
	if a := g.anchor.Load(); a != nil {
		if el := time.Since(a.mono); el < anchorFor {
			if id, ok := g.fast(a.wallNs + int64(el)); ok {
				return id, nil
			}
		}
	}
	return g.nextSlow(ctx)
}

// fast issues an ID at unixNs in the two common cases, the same tick as
// the last ID with sequence left, or a later tick, with one CAS and
// without dividing by the tick length: a 64-bit division by a variable
// costs more than the rest of Next on common x86 machines, so the tick is
// found by comparing with the last tick's start (a multiplication), and
// the division runs only on the first ID of a tick. It reports false
// (issuing nothing) for everything else, which nextSlow handles: the
// first ID, a used-up tick, a clock behind the last tick, a lost lease, a
// lost CAS race.
func (g *Snowflake) fast(unixNs int64) (int64, bool) {
	if g.lease != nil && g.lease.lost.Load() {
		return 0, false
	}
	ns := unixNs - g.epochNs
	raw := g.state.Load()
	if ns < 0 || raw == 0 {
		return 0, false
	}
	old := raw - 1
	last := int64(old >> g.seqBits)
	var tick int64
	var seq uint64
	switch d := ns - last*g.tickNs; {
	case d >= 0 && d < g.tickNs: // still the last ID's tick
		seq = old&g.seqMask + 1
		if seq > g.seqMask {
			return 0, false
		}
		tick = last
	case d >= g.tickNs: // a later tick
		tick = ns / g.tickNs
		if tick >= g.maxTicks {
			return 0, false
		}
	default: // the clock is behind the last tick
		return 0, false
	}
	if !g.state.CompareAndSwap(raw, uint64(tick)<<g.seqBits|seq+1) {
		return 0, false
	}
	return tick<<g.tsShift | g.nodePart | int64(seq), true
}

// nextSlow is Next for every case fast declines.
func (g *Snowflake) nextSlow(ctx context.Context) (int64, error) {
	fresh := false
	for {
		nowTick, err := g.tickOfNs(g.nowNs())
		if err != nil {
			return 0, err
		}
		id, until, err := g.next(nowTick)
		if err != nil && !fresh && errors.Is(err, ErrClockBackwards) {
			// This goroutine may have been descheduled between reading
			// the clock and comparing with the last tick, while others
			// issued IDs: its reading is stale, not the clock. Read
			// again once before blaming the clock.
			fresh = true
			continue
		}
		if err != nil || until == 0 {
			return id, err
		}
		if err := g.waitUntil(ctx, until); err != nil {
			return 0, err
		}
	}
}

// NextAt returns a new ID as if the clock read now. It never blocks: where
// Next would wait, it returns an error wrapping ErrSequenceExhausted (the
// tick is used up) or ErrClockBackwards (now is before the last tick and
// the policy does not borrow). It is the deterministic core of Next, for
// tests and for callers that schedule their own retries.
func (g *Snowflake) NextAt(now time.Time) (int64, error) {
	nowTick, err := g.tickOf(now)
	if err != nil {
		return 0, err
	}
	id, until, err := g.next(nowTick)
	if err != nil || until == 0 {
		return id, err
	}
	last := int64((g.state.Load() - 1) >> g.seqBits)
	if nowTick < last {
		return 0, fmt.Errorf("%w: clock is %v behind the last tick", ErrClockBackwards, time.Duration(last-nowTick)*g.layout.Tick)
	}
	return 0, ErrSequenceExhausted
}

func (g *Snowflake) tickOf(now time.Time) (int64, error) { return g.tickOfNs(now.UnixNano()) }

func (g *Snowflake) tickOfNs(unixNs int64) (int64, error) {
	ns := unixNs - g.epochNs
	if ns < 0 {
		return 0, fmt.Errorf("%w: clock reads %v, before the epoch %v", ErrClockBackwards, time.Unix(0, unixNs).UTC(), g.layout.Epoch)
	}
	return ns / g.tickNs, nil
}

// next tries to issue an ID at nowTick. It returns the ID, or a tick to
// wait for (until > 0), or an error.
func (g *Snowflake) next(nowTick int64) (id, until int64, err error) {
	if g.lease != nil && g.lease.lost.Load() {
		return 0, 0, g.lease.lostErr()
	}
	for {
		raw := g.state.Load()
		old := raw - 1
		lastTick := int64(old >> g.seqBits)
		lastSeq := old & g.seqMask
		var tick int64
		var seq uint64
		switch {
		case raw == 0 || nowTick > lastTick:
			tick, seq = nowTick, 0
		case lastSeq < g.seqMask && (nowTick == lastTick || g.policy == BorrowFromFuture && lastTick-nowTick <= g.maxBack):
			tick, seq = lastTick, lastSeq+1
		case nowTick == lastTick || g.policy == BorrowFromFuture && lastTick-nowTick <= g.maxBack:
			// The tick is used up.
			switch {
			case g.policy != BorrowFromFuture:
				return 0, lastTick + 1, nil
			case lastTick+1-nowTick <= g.maxBack:
				tick, seq = lastTick+1, 0
			default: // wait until borrowing the next tick is within the bound
				return 0, lastTick + 1 - g.maxBack, nil
			}
		default: // clock behind the last tick
			behind := lastTick - nowTick
			if g.policy == FailOnBackwards || behind > g.maxBack {
				return 0, 0, fmt.Errorf("%w: clock is %v behind the last issued tick (policy %v, bound %v)",
					ErrClockBackwards, time.Duration(behind)*g.layout.Tick, g.policy, time.Duration(g.maxBack)*g.layout.Tick)
			}
			return 0, lastTick, nil
		}
		if tick >= g.maxTicks {
			return 0, 0, fmt.Errorf("%w: layout ended at %v", ErrTimeOverflow, g.layout.End())
		}
		if g.state.CompareAndSwap(raw, uint64(tick)<<g.seqBits|seq+1) {
			return tick<<g.tsShift | g.nodePart | int64(seq), 0, nil
		}
	}
}

// spinBelow is how close to the target tick Next spins instead of parking
// on a timer: timers wake up tens of microseconds late, which would cost a
// sub-millisecond-tick layout a large share of its rate.
const spinBelow = 2 * time.Millisecond

// waitUntil blocks until the clock reaches tick, or ctx ends.
func (g *Snowflake) waitUntil(ctx context.Context, tick int64) error {
	g.waits.Add(ctx, 1, g.nameOpt)
	targetNs := g.epochNs + tick*g.tickNs
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := time.Duration(targetNs - g.nowNs())
		if d <= 0 {
			return nil
		}
		if g.realClk && d < spinBelow {
			runtime.Gosched()
			continue
		}
		if g.realClk {
			d -= spinBelow / 2 // wake early, spin the rest
		}
		if err := clock.Sleep(ctx, g.clk, d); err != nil {
			return err
		}
	}
}
