// Package grpcx brings scalekit's load balancing and resilience policies
// to grpc-go.
package grpcx
