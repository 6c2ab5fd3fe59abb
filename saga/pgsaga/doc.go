// Package pgsaga is the PostgreSQL backend of package saga: the saga log
// and the two-phase-commit decision log (Log), the idempotency barrier
// that actions and compensations run inside their own local transaction
// (Barrier), a two-phase-commit participant built on PREPARE TRANSACTION
// (Resource), and the sweeper that resolves prepared transactions left
// behind by a crashed coordinator (Resource.Sweep).
//
// Open creates the tables under an advisory lock, so any number of
// processes may start at once. Every log write is one statement in its
// own implicit transaction; no transaction is ever held open across a
// step's call.
package pgsaga
