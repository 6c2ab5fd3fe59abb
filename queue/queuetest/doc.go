// Package queuetest is the conformance suite of package queue's backends.
//
// A backend's conformance_test.go calls Run with a Harness against the
// real engine; every property is a named sub-test that runs through
// package queue's concrete types and explains what failed:
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, queuetest.Harness{
//			New: func(t *testing.T) driver.Queue { return open(t, url) },
//			ChildEnv: func(*testing.T) []string { return []string{"MY_URL=" + url} },
//		})
//	}
//
// With ChildEnv set, the suite starts copies of the test binary (through
// internal/testenv.Child) that play consumers, and kills one with SIGKILL
// in the middle of a handler to show that its messages are delivered
// again to another consumer.
package queuetest
