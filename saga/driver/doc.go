// Package driver defines the log interfaces that saga backends implement:
// Log, the durable execution log of the saga orchestrator, and TxLog, the
// decision log of the two-phase-commit coordinator.
//
// Drivers are thin: each method maps to one engine call (one statement on
// PostgreSQL), returns the engine's own error and does not retry, trace or
// validate. Package saga does all of that once. Backends: memsaga (in
// process) and pgsaga (PostgreSQL). Package sagatest is the conformance
// suite every backend runs.
package driver
