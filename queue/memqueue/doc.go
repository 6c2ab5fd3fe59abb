// Package memqueue is the in-process backend of package queue: full
// semantics (fan-out subscriptions, priorities, delays, per-key ordering,
// leases with visibility timeouts, delivery counts, dead-letter queues,
// dedup ids) in process memory, with an injectable clock and fault
// injection (FailNext, SetFault, ExpireLeases) for tests of code built on
// queues.
//
// Durability: none beyond the process. A message is "durably published"
// once Publish returns and lives until the process exits.
package memqueue
