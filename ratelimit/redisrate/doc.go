// Package redisrate is the distributed backend of package ratelimit: every
// algorithm as a single Lua script on Redis, so that any number of
// instances sharing one Redis (or Redis Cluster) admit one global limit.
//
// Each decision is one EVALSHA round trip on one key (EVAL once when the
// server answers NOSCRIPT, after a restart or SCRIPT FLUSH); one key per
// decision means every decision's state is in one hash slot, and the driver
// works on any redis.UniversalClient: a Client, a ClusterClient or a
// FailoverClient. The scripts read the time from the Redis server (TIME),
// so instances with skewed clocks still agree; they work in whole
// microseconds (a Period must be a whole number of µs) and are exact: GCRA's
// emission interval Period/Rate is carried as µs plus a fraction in units of
// 1/Rate µs, so 600,000 per second admits exactly 600,000 per second, and
// limits whose products would not stay exact (Burst·Period, Rate·Period or
// Burst·Rate beyond 2^51) are rejected with ratelimit.ErrInvalidLimit. Keys
// expire when their state has returned to fresh, so idle
// keys cost no memory.
//
// GCRA keeps one timestamp per key and is the cheapest; the sliding-window
// counter keeps two counts; the sliding log keeps up to Rate entries per key
// (a sorted set) and costs O(Rate) per decision.
//
// When Redis is unreachable the Allow error goes to the ratelimit.Limiter,
// whose Options decide: a local Fallback limiter (for example memrate with a
// per-instance share of the limit), FailOpen, FailClosed or FailError. Each
// decision has a budget, Options.Timeout (default 250ms), that covers
// go-redis's retries, reconnection attempts and socket waits, so an outage
// costs at most that per decision whatever the client's settings (tested by
// stopping and by pausing Redis with go-redis's default retries).
//
// One key per decision also means keys and prefixes may contain braces
// (Redis Cluster hash tags) freely (tested on a three-master Cluster).
package redisrate
