// Package driver defines the interface rate-limiting backends implement and
// the types they share with package ratelimit (Limit, Algorithm, Decision).
//
// Application code uses ratelimit.Limiter; backends such as memrate and
// redisrate implement driver.Limiter and are checked by the conformance suite
// in package ratelimittest. Drivers are thin: argument validation, Wait,
// metrics and the fail-open/fail-closed policy live once in ratelimit.
package driver
