package shard

import (
	"fmt"
	"math"
)

// Sequence is the per-shard auto-increment offset scheme: with N shards,
// shard i issues ids i+1, i+1+N, i+1+2N, … (start i+1, step N), so ids are
// unique across shards without coordination, and an id tells its shard. To
// leave room for growth, use a Step larger than today's shard count. The
// zero value is invalid; use NewSequence.
type Sequence struct {
	Step, Offset int64
}

// NewSequence returns the scheme of shard index (0-based) among step
// slots.
func NewSequence(index, step int) (Sequence, error) {
	if step < 1 || index < 0 || index >= step {
		return Sequence{}, fmt.Errorf("shard.NewSequence: index %d of %d: %w", index, step, ErrBadArgument)
	}
	return Sequence{Step: int64(step), Offset: int64(index)}, nil
}

// Nth returns the n-th id (n ≥ 0) of the shard; false on overflow.
func (s Sequence) Nth(n int64) (int64, bool) {
	if n < 0 || s.Step < 1 || n > (math.MaxInt64-s.Offset-1)/s.Step {
		return 0, false
	}
	return s.Offset + 1 + n*s.Step, true
}

// Owns reports whether id was issued by this shard's sequence.
func (s Sequence) Owns(id int64) bool {
	return s.Step >= 1 && id >= 1 && (id-1)%s.Step == s.Offset
}

// SlotOf returns the slot (shard index) that issued id.
func SlotOf(id, step int64) (int64, error) {
	if step < 1 || id < 1 {
		return 0, fmt.Errorf("shard.SlotOf: id %d step %d: %w", id, step, ErrBadArgument)
	}
	return (id - 1) % step, nil
}

// PostgresDDL returns the statement that creates the PostgreSQL sequence
// name for this shard (name is used verbatim; pass a trusted identifier).
func (s Sequence) PostgresDDL(name string) string {
	return fmt.Sprintf("CREATE SEQUENCE IF NOT EXISTS %s START WITH %d INCREMENT BY %d MINVALUE 1", name, s.Offset+1, s.Step)
}
