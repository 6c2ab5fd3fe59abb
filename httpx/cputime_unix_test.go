//go:build unix

package httpx_test

import (
	"syscall"
	"time"
)

// cpuNow returns the CPU time (user + system, all threads) the process
// has used: unlike wall time it does not count time spent waiting for a
// core, which on a shared machine is most of the noise.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
