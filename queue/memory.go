package queue

import "github.com/scalekit-go/scalekit/queue/memqueue"

// NewInMemory returns a Queue over a new in-process backend (memqueue)
// using opts (nil means defaults; opts.Clock and opts.MaxBody also
// configure the backend). Messages live only as long as the process. It
// fails only for invalid options, like New.
func NewInMemory(opts *Options) (*Queue, error) {
	var mo memqueue.Options
	if opts != nil {
		mo.Clock, mo.MaxBody = opts.Clock, opts.MaxBody
	}
	return New(memqueue.New(&mo), opts)
}
