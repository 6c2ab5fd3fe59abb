// Package clock abstracts time so that every time-dependent part of scalekit
// can be driven by a fake clock in tests.
//
// Production code takes a Clock (nil means Real) and calls its methods instead
// of the time package. Tests pass a *Fake and move it with Advance; they never
// sleep to wait for a condition. BlockUntil lets a test wait until the code
// under test is parked on a timer before advancing.
package clock
