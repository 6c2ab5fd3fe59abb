// Package backoff computes retry delays: exponential growth with a cap, full
// jitter (AWS architecture blog, "Exponential Backoff and Jitter"), and an
// optional limit on total elapsed time. Retry runs a function under a Policy
// on an injectable clock.
package backoff
