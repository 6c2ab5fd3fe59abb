package saga

import (
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/lock/memlock"
	"github.com/scalekit-go/scalekit/saga/memsaga"
)

// NewInMemory returns an Orchestrator over an in-memory log (memsaga)
// and an in-memory lock (memlock): for tests and for single-process use
// where nothing has to survive a restart.
func NewInMemory(opts *Options) (*Orchestrator, error) {
	var lo *lock.Options
	var mo *memlock.Options
	var so *memsaga.Options
	if opts != nil && opts.Clock != nil {
		lo = &lock.Options{Clock: opts.Clock}
		mo = &memlock.Options{Clock: opts.Clock}
		so = &memsaga.Options{Clock: opts.Clock}
	}
	lk, err := lock.New(memlock.New(mo), lo)
	if err != nil {
		return nil, err
	}
	return New(memsaga.New(so), lk, opts)
}
