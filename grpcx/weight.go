package grpcx

import "google.golang.org/grpc/resolver"

type weightKey struct{}

// WithAddressWeight returns addr carrying weight w for the weighted
// policies (WeightedRoundRobinName, ConsistentHashName, the load
// policies). A resolver sets it; w ≤ 0 means 1.
func WithAddressWeight(addr resolver.Address, w int) resolver.Address {
	addr.Attributes = addr.Attributes.WithValue(weightKey{}, w)
	return addr
}

// AddressWeight returns the weight WithAddressWeight gave addr, or 1.
func AddressWeight(addr resolver.Address) int {
	if w, ok := addr.Attributes.Value(weightKey{}).(int); ok && w > 0 {
		return w
	}
	return 1
}
