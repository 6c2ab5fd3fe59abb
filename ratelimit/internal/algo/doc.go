// Package algo implements the integer-time rate-limiting algorithms of the
// in-process backend: token bucket (exact rational refill), GCRA, leaky
// bucket (queue), fixed window, sliding log and sliding-window counter.
// Times are nanoseconds on any fixed origin. A State is not safe for
// concurrent use; callers lock around it.
package algo
