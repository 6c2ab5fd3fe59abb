// Package testenv gives tests real Redis, PostgreSQL and etcd servers.
//
// Each test binary gets at most one shared server per engine, started on
// first use from the installed binaries on a free loopback port with its own
// temporary data directory, and stopped by Main (call it from TestMain). A
// server started here is also tied to the test binary with a parent-death
// signal, so a binary killed by a timeout leaves no process behind. Tests that
// restart, kill or pause an engine ask for a dedicated server with NewRedis,
// NewPostgres or NewEtcd; it is stopped with t.Cleanup.
//
// When SCALEKIT_REDIS_URL, SCALEKIT_POSTGRES_URL or SCALEKIT_ETCD_ENDPOINTS
// is set, the shared helpers use that server instead of starting one. When the
// engine's binary is missing the test is skipped with the install command,
// unless SCALEKIT_REQUIRE_BACKENDS=1 (set by make test and CI), in which case
// it fails.
//
// Several test binaries may run in parallel (go test ./...): ports are chosen
// by the kernel and retried on a clash, and data directories are distinct.
package testenv
