package lb

import (
	"context"
	"math/rand/v2"
)

// SetRandForTest makes the pickers' random choices come from r until the
// returned function restores the default. Not safe while picks run.
func SetRandForTest(r *rand.Rand) (restore func()) {
	old := randU64
	randU64 = r.Uint64
	return func() { randU64 = old }
}

// ProbeForTest runs one probe of h against addr, as the check loop does.
var ProbeForTest = func(h *HealthCheck, ctx context.Context, addr string) error {
	hc := h.withDefaults()
	return hc.check(ctx, addr)
}
