package lb

import "math/rand/v2"

// SetRandForTest makes the pickers' random choices come from r until the
// returned function restores the default. Not safe while picks run.
func SetRandForTest(r *rand.Rand) (restore func()) {
	old := randN
	randN = r.IntN
	return func() { randN = old }
}
