// Package procs runs the multi-process uniqueness tests of the idgen
// backends: several OS processes (re-runs of the test binary) share one
// engine, each draws IDs from its own generator, and the parent checks the
// union for duplicates.
package procs
