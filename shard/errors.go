package shard

import "errors"

// Sentinel errors returned by this package. Callers test them with errors.Is;
// the returned errors wrap them with the operation and the offending input.
var (
	// ErrNoNodes reports an empty node set.
	ErrNoNodes = errors.New("shard: no nodes")
	// ErrDuplicateNode reports the same node name given twice.
	ErrDuplicateNode = errors.New("shard: duplicate node")
	// ErrEmptyName reports a node with an empty name.
	ErrEmptyName = errors.New("shard: empty node name")
	// ErrBadWeight reports a weight that is not a finite number > 0.
	ErrBadWeight = errors.New("shard: weight must be finite and > 0")
	// ErrBadEpsilon reports a bounded-load ε that is not a finite number > 0.
	ErrBadEpsilon = errors.New("shard: epsilon must be finite and > 0")
	// ErrBadRanges reports ranges that are unsorted, overlapping, gapped or
	// empty.
	ErrBadRanges = errors.New("shard: bad ranges")
	// ErrBadList reports a list strategy whose value appears twice or whose
	// node has no values.
	ErrBadList = errors.New("shard: bad list")
	// ErrNoShard reports a key that no shard owns (outside every range, or
	// in no list).
	ErrNoShard = errors.New("shard: no shard owns key")
	// ErrBadArgument reports any other invalid argument (negative counts,
	// zero logical shards, malformed tokens, …).
	ErrBadArgument = errors.New("shard: bad argument")
	// ErrNotFound reports a directory key with no entry.
	ErrNotFound = errors.New("shard: not found")
	// ErrConflict reports a lost compare-and-swap on a versioned table.
	ErrConflict = errors.New("shard: version conflict")
	// ErrPartial reports that a scatter-gather call returned without every
	// shard's answer (see Results.Errs).
	ErrPartial = errors.New("shard: partial results")
)
