// Package memsaga is the in-process backend of package saga: a saga log
// and a two-phase-commit decision log kept in memory. It is for tests and
// single-process use; nothing survives the process (Restart in tests
// keeps the data, as a durable engine would).
package memsaga
