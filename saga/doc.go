// Package saga coordinates work that spans several services or
// databases, embedded in the services themselves (no coordinator server):
//
//   - Orchestrator runs sagas: steps over typed saga data, each an action
//     and a compensation, in sequence or as a DAG of parallel branches
//     that join. If a step fails (after its bounded retries, or at once
//     with a Permanent error, or by timing out), every step that was
//     started — including the failed one, which may have been applied —
//     is compensated in reverse order.
//   - Coordinator runs two-phase-commit transactions over Participants
//     (Prepare, Commit, Abort) with presumed abort, and TCC
//     (try/confirm/cancel) on the same machinery.
//
// Backends: memsaga (in memory) and pgsaga (PostgreSQL; it also holds the
// idempotency barrier, the PREPARE TRANSACTION participant and the
// sweeper of orphaned prepared transactions). sagatest is the
// conformance suite of log drivers.
//
// # Durability and ownership
//
// Every saga is recorded in a driver.Log. A step is recorded as started
// before its action is called (so its compensation is registered before
// it runs), and as done after. After a crash, any orchestrator sharing
// the log resumes it (Recover, RunRecovery): forward if no step failed,
// otherwise compensating. One orchestrator drives a saga at a time: it
// holds the saga's lock lease (package lock), and every log write carries
// the lease's fencing token, which the log checks, so an orchestrator
// that lost its lease (a long pause, a partition) is refused on its next
// write and stops (ErrLeaseLost). Actions and compensations are therefore
// called at least once; make them idempotent with pgsaga.Barrier, keyed
// by Call.SagaID and Call.Step.
//
// # Log writes
//
// Each log write is one statement on PostgreSQL, and no database
// transaction is held open across a step's call. A saga of N steps that
// completes costs N+1 writes: one to create it (marking the first steps
// started), then one per completed step (which also marks the steps it
// unblocks as started, and the saga completed after the last) — 1.33
// writes per step for three steps. On top of that, each failed attempt
// that will be retried costs one write, the failure that starts
// compensation one, and each compensated step one (the last also records
// the saga compensated). Taking over a saga after a crash costs one write,
// which also fences the old owner off at once. The lease costs two lock
// calls per saga (acquire, release) and background renewals for long
// sagas. A 2PC transaction costs three decision-log writes when it
// commits (begin, commit decision, finished) and two when it aborts.
//
// # Bounds
//
// Nothing retries forever. An action has Retry.MaxAttempts attempts in
// total (default 3), counted across restarts — an attempt interrupted by
// a crash counts as failed, so a step that crashes its process cannot
// loop. A compensation has CompensateRetry.MaxAttempts (default 20); each
// failure raises an Alert, and when they are exhausted the saga is marked
// Stuck, reported by ListStuck, and waits for an operator (Retry, Abort).
// Each attempt has a Timeout (default 30s); a call that outlives it is
// abandoned and treated as possibly applied.
package saga
