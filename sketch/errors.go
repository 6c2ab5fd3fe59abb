package sketch

import "errors"

// Errors returned by the sketches. Callers branch on them with errors.Is;
// the returned errors wrap them with a "sketch: " prefix, the operation
// and the details, for example
//
//	sketch: unmarshal bloom: corrupt encoding: checksum 1c2b…, want 9f00…
var (
	// ErrInvalidParameter means a constructor argument is out of range: a
	// zero capacity, a false-positive rate, ε or δ outside (0, 1), a
	// precision outside 4…18, a zero k, or a size too large to allocate.
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrIncompatible means two sketches cannot be merged because their
	// shapes differ (bits and hash count of a Bloom filter, precision of a
	// HyperLogLog, width and depth of a Count-Min sketch).
	ErrIncompatible = errors.New("incompatible sketches")
	// ErrCorrupt means encoded data is not a valid sketch of the expected
	// kind: wrong magic, wrong length, bad checksum or impossible fields.
	ErrCorrupt = errors.New("corrupt encoding")
	// ErrUnsupportedVersion means encoded data carries a format version
	// this package does not know (written by a newer release).
	ErrUnsupportedVersion = errors.New("unsupported encoding version")
)
