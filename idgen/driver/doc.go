// Package driver defines the interfaces that idgen backends implement:
// SegmentSource hands out blocks of IDs for the Segment generator, and
// NodeIDs leases Snowflake node ids.
//
// Drivers are thin: one call maps to one engine operation, errors are the
// engine's own (or the sentinels below), and nothing is retried, cached or
// validated here. The concrete types in package idgen do that. Applications
// use package idgen; only backend authors import this package.
package driver
