// Package ratelimittest is the conformance suite for ratelimit backends. A
// backend proves itself by calling Run from a test against its real engine;
// every check runs through the concrete ratelimit.Limiter and every failure
// names the property that broke, as a named sub-test:
//
//   - BadLimit, BadCall: rate ≤ 0, period ≤ 0, burst < 1, burst on a
//     window algorithm, unknown algorithm → ErrInvalidLimit; empty key,
//     n < 1, n > capacity → ErrEmptyKey, ErrInvalidN, ErrExceedsCapacity,
//     consuming nothing.
//   - <algorithm>/<limit>/Model: a long randomised fake-clock run (random
//     gaps, gaps of exactly one emission interval, instants just before,
//     at and after window boundaries, repeated instants) whose every
//     decision must equal that of an independent reference model written
//     from the algorithm's definition (exact rational arithmetic, different
//     state). It also checks each Decision: Remaining (that many single
//     units are admitted at once, and no more), RetryAfter (denied one
//     resolution step earlier, admitted at it), ResetAfter (the full
//     capacity is back then, not one step earlier), Delay (LeakyBucket's
//     paced slot), and finally the algorithm's documented promise over
//     everything admitted (no more than the limit in any window it
//     promises).
//   - <algorithm>/<limit>/Concurrent and TwoInstancesShareTheLimit: six
//     goroutines racing on one or two instances sharing one space admit,
//     at each instant, exactly what the definition admits, never more.
//   - KeysAreIndependent, WaitFailsEarlyPastDeadline (ErrWouldExceedDeadline
//     at once, nothing consumed), WaitSleepsOnTheClock, WaitCancelled.
//   - RealTime: several goroutines on two instances for 350 ms of real time
//     (for a distributed backend, the engine's own clock): the admitted
//     total must be within the algorithm's bound and at least half the
//     ideal, so a backend that limits per instance, or denies everything,
//     fails.
//
// # Clocks
//
// Harness.New receives the clock to decide on: a *clock.Fake in every
// exact sub-test, clock.Real() in RealTime. A backend whose time normally
// comes from its engine (redisrate reads the Redis server's TIME) takes an
// option to decide at an injected time instead and uses it for the fake
// clock, so the exact sub-tests run the backend's real decision code
// (redisrate: the same Lua scripts, on the real server) with only the time
// source swapped; RealTime then runs it on the engine's clock.
package ratelimittest
