package idgen

import (
	"errors"
	"fmt"
	"time"
)

// Layout describes how a Snowflake ID's 63 usable bits are split: from the
// most significant down, TimeBits of ticks since Epoch, NodeBits of node id,
// and SeqBits of per-tick sequence. The sign bit is always zero, so IDs are
// positive int64 values that sort by time.
//
// A Layout is a plain value; Validate checks it. The zero Layout is invalid.
type Layout struct {
	// TimeBits is the width of the timestamp, in ticks since Epoch.
	TimeBits uint8
	// NodeBits is the width of the node (worker) id.
	NodeBits uint8
	// SeqBits is the width of the sequence within one tick.
	SeqBits uint8
	// Tick is the time unit of the timestamp (1ms for Twitter's layout).
	Tick time.Duration
	// Epoch is the instant that timestamp 0 stands for.
	Epoch time.Time
}

// TwitterLayout is the original Snowflake layout: 41 bits of milliseconds
// since 2010-11-04T01:42:54.657Z, 10 bits of node and 12 of sequence. It
// issues up to 4,096 IDs per millisecond per node, for 1,024 nodes, until
// the year 2080.
var TwitterLayout = Layout{
	TimeBits: 41, NodeBits: 10, SeqBits: 12,
	Tick:  time.Millisecond,
	Epoch: time.UnixMilli(1288834974657).UTC(),
}

// LongLivedLayout trades rate for lifetime and node count, in the manner of
// Sony's Sonyflake: 39 bits of 10ms ticks since 2025-01-01T00:00:00Z, 16 bits
// of node and 8 of sequence. It issues up to 25,600 IDs per second per node,
// for 65,536 nodes, for about 174 years.
var LongLivedLayout = Layout{
	TimeBits: 39, NodeBits: 16, SeqBits: 8,
	Tick:  10 * time.Millisecond,
	Epoch: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
}

// ErrInvalidLayout is wrapped by every error of Layout.Validate.
var ErrInvalidLayout = errors.New("idgen: invalid layout")

// Validate reports whether l is usable: the three widths sum to 63, the
// sequence has at least one bit, the timestamp at least 16, Tick is positive
// and Epoch is set. The epoch-in-the-future check needs a clock and is done
// by NewSnowflake.
func (l Layout) Validate() error {
	sum := int(l.TimeBits) + int(l.NodeBits) + int(l.SeqBits)
	switch {
	case sum != 63:
		return fmt.Errorf("%w: TimeBits+NodeBits+SeqBits = %d+%d+%d = %d, must be 63",
			ErrInvalidLayout, l.TimeBits, l.NodeBits, l.SeqBits, sum)
	case l.SeqBits < 1:
		return fmt.Errorf("%w: SeqBits must be at least 1", ErrInvalidLayout)
	case l.TimeBits < 16:
		return fmt.Errorf("%w: TimeBits = %d is too few to be useful (minimum 16)", ErrInvalidLayout, l.TimeBits)
	case l.Tick <= 0:
		return fmt.Errorf("%w: Tick = %v, must be positive", ErrInvalidLayout, l.Tick)
	case l.Epoch.IsZero():
		return fmt.Errorf("%w: Epoch is not set", ErrInvalidLayout)
	}
	return nil
}

// MaxNode returns the largest node id the layout holds.
func (l Layout) MaxNode() int64 { return int64(1)<<l.NodeBits - 1 }

// MaxSequence returns the largest sequence number within one tick.
func (l Layout) MaxSequence() int64 { return int64(1)<<l.SeqBits - 1 }

// MaxRate returns the most IDs one generator can issue per second:
// 2^SeqBits per Tick. Next waits for the next tick when it is exceeded.
func (l Layout) MaxRate() float64 {
	if l.Tick <= 0 {
		return 0
	}
	return float64(int64(1)<<l.SeqBits) * float64(time.Second) / float64(l.Tick)
}

// Lifetime returns how long after Epoch the timestamp overflows:
// 2^TimeBits ticks.
func (l Layout) Lifetime() time.Duration {
	ticks := float64(int64(1) << l.TimeBits)
	d := ticks * float64(l.Tick)
	if d > float64(1<<63-1) {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(d)
}

// End returns the last instant the layout can encode, Epoch + Lifetime.
func (l Layout) End() time.Time { return l.Epoch.Add(l.Lifetime()) }

// Parts is a decoded Snowflake ID.
type Parts struct {
	// Time is the start of the tick the ID was issued in.
	Time time.Time
	// Node is the node id.
	Node int64
	// Sequence is the position within the tick.
	Sequence int64
}

// ErrInvalidID is returned by Decode for negative IDs.
var ErrInvalidID = errors.New("idgen: invalid id")

// Decode splits id into its time, node and sequence under l.
func (l Layout) Decode(id int64) (Parts, error) {
	if id < 0 {
		return Parts{}, fmt.Errorf("%w: %d is negative", ErrInvalidID, id)
	}
	seq := id & l.MaxSequence()
	node := (id >> l.SeqBits) & l.MaxNode()
	ticks := id >> (l.SeqBits + l.NodeBits)
	return Parts{
		Time:     l.Epoch.Add(time.Duration(ticks) * l.Tick),
		Node:     node,
		Sequence: seq,
	}, nil
}

// Compose builds the ID for tick number ticks (since Epoch), node and seq.
// It returns an error when a part is out of range.
func (l Layout) Compose(ticks, node, seq int64) (int64, error) {
	switch {
	case ticks < 0 || ticks >= int64(1)<<l.TimeBits:
		return 0, fmt.Errorf("idgen: tick %d out of range [0, 2^%d)", ticks, l.TimeBits)
	case node < 0 || node > l.MaxNode():
		return 0, fmt.Errorf("idgen: node %d out of range [0, %d]", node, l.MaxNode())
	case seq < 0 || seq > l.MaxSequence():
		return 0, fmt.Errorf("idgen: sequence %d out of range [0, %d]", seq, l.MaxSequence())
	}
	return ticks<<(l.NodeBits+l.SeqBits) | node<<l.SeqBits | seq, nil
}
