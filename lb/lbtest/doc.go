// Package lbtest holds helpers for testing code built on lb: fake
// endpoints with scripted latency and failures (virtual ones for
// simulations and real loopback HTTP servers for end-to-end tests) and
// checkers for pick distributions.
package lbtest
