package lock

import "github.com/scalekit-go/scalekit/lock/memlock"

// NewInMemory returns a Locker over a new in-process backend (memlock) that
// shares opts.Clock, so a fake clock drives both the leases' expiry and
// their renewal: locks within one process, and tests of code built on
// package lock, in one call.
func NewInMemory(opts *Options) (*Locker, error) {
	var mo memlock.Options
	if opts != nil {
		mo.Clock = opts.Clock
	}
	return New(memlock.New(&mo), opts)
}
