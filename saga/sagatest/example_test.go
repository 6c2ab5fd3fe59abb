package sagatest_test

import (
	"testing"

	"github.com/scalekit-go/scalekit/saga/memsaga"
	"github.com/scalekit-go/scalekit/saga/sagatest"
)

// A backend's conformance test: a fresh backend per sub-test (pgsaga
// hands out a fresh database each time), and optionally the lock backend
// its orchestrators share.
func Example() {
	_ = func(t *testing.T) {
		sagatest.Run(t, sagatest.Harness{
			New: func(*testing.T) sagatest.Backend { return memsaga.New(nil) },
		})
	}
	// Output:
}
