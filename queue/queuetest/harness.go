package queuetest

import (
	"testing"
	"time"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/queue/driver"
)

// Harness describes the backend under test.
type Harness struct {
	// New returns a handle on the backend under test (required). Handles
	// returned during one Run share the engine's state, as clients in
	// separate processes would; give each call its own client where the
	// backend has one.
	New func(t *testing.T) driver.Queue
	// Clock, when non-nil, is the fake clock every handle from New uses;
	// the suite moves it instead of waiting. Leave it nil for real
	// engines.
	Clock *clock.Fake
	// Visibility is the lease of the redelivery and heartbeat tests
	// (default 1s; keep it short for real engines, above the backend's
	// granularity).
	Visibility time.Duration
	// ChildEnv returns the environment ("K=V") a child process of the
	// test binary needs so that New, called there, reaches the same
	// engine. nil means the backend is in-process and the SIGKILL test is
	// not run. The child runs the same top-level test function again, up
	// to Run, so keep setup before Run cheap or conditional on
	// testenv.ChildRole().
	ChildEnv func(t *testing.T) []string
	// NoPriority says the engine cannot order by priority (the priority
	// test is skipped with this reason).
	NoPriority bool
}
