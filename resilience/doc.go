// Package resilience holds scalekit's transport-independent fault-tolerance
// policies, shared by httpx (net/http), lb (per-endpoint breakers) and
// grpcx (gRPC):
//
//   - Breaker: a circuit breaker (on sony/gobreaker; this package is the
//     only one in scalekit that imports it).
//   - Retry: exponential backoff with full jitter, an attempt cap,
//     server-asked waits, and a RetryBudget shared across calls that
//     bounds the extra load retries and hedges add.
//   - Hedge: a second attempt when the first is slow (Do for calls that
//     return a value, Execute for plain functions).
//   - Timeout: a per-call limit inside the caller's deadline budget.
//   - AdaptiveLimiter: a latency-driven concurrency limit (Gradient, AIMD)
//     with priorities.
//
// Each policy is small and usable on its own around any function
// (Execute(ctx, func(ctx) error) error), and offers the lower-level form
// that a transport needs when a call starts and ends in different places
// (Breaker.Allow and Permit.Done, RetryBudget.Deposit and Withdraw,
// Retry.Next, AdaptiveLimiter.Acquire and Token.Release).
//
// # One definition of success, failure and "not counted"
//
// Classify is the one definition every policy and every adapter uses. A
// call the caller cancelled, a call whose caller's deadline passed, and a
// policy's own rejection (RejectedError, ErrRejected) are Ignored: they
// say nothing about the backend, so they never open a breaker, never
// reset a failure streak, never close a half-open breaker (a cancelled
// half-open trial call frees its slot instead) and are never retried.
// Counting rejections as failures is what keeps the breakers of some
// other frameworks stuck open.
//
// # Telemetry
//
// Metrics are named scalekit.resilience.* (see docs/metrics.md) and carry
// scalekit.name, the policy's Options.Name. The httpx and lb adapters keep
// their own instrument names (scalekit.httpx.client.breaker.*,
// scalekit.lb.breaker.state, …) and build their policies with a no-op
// meter, so nothing is counted twice.
package resilience
