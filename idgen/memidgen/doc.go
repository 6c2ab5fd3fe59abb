// Package memidgen provides in-process idgen backends: a SegmentSource and
// a NodeIDs driver held in memory. They coordinate the goroutines of one
// process only; use them in tests, in single-process services, and as the
// reference behaviour that the idgentest suite checks other backends
// against. Both accept a fake clock and fault injection.
package memidgen
