//go:build !unix

package httpx_test

import "time"

var cpuStart = time.Now()

// cpuNow falls back to wall time where getrusage is unavailable.
func cpuNow() time.Duration { return time.Since(cpuStart) }
