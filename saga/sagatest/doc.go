// Package sagatest is the conformance suite for saga log drivers. A
// backend's conformance_test.go calls Run with a Harness; the suite checks
// the driver's contract directly (fencing, first decision wins, paging)
// and then drives sagas through saga.Orchestrator over it (completion,
// compensation, takeover of a crashed owner's saga, fencing of a stale
// owner, recovery shared by several instances), as named sub-tests.
package sagatest
