// Package locktest is the conformance suite of package lock's backends.
//
// A backend's test calls Run with a Harness that opens handles on the
// backend under test; Run checks, as named sub-tests and always through
// lock.Locker, that the backend keeps its promises: mutual exclusion under
// contention (goroutines and, for shared engines, several OS processes,
// checked by a history checker that fails on overlapping holds), expiry
// after the TTL, renewal, refusal of a release by a non-holder, no waiter
// left behind by a cancelled Acquire, strictly increasing fencing tokens
// (across an engine restart where the backend promises it), Done closing
// when the lease is lost, and, where the harness gives a fenced resource,
// that a holder paused (SIGSTOP) past its TTL is stopped by the fence when
// it resumes and writes.
//
//	func TestConformance(t *testing.T) {
//		locktest.Run(t, locktest.Harness{New: func(t *testing.T) driver.Locker { return newBackend(t) }})
//	}
//
// History, Hold and CheckHolds are exported so that other tests can record
// critical sections and check them the same way.
package locktest
