// Package driver defines the small interfaces that shard's backends
// implement: a store of versioned two-level shard maps and a directory
// (lookup table). Drivers map each call to their engine and return its
// errors; validation, caching, retries and metrics live in package shard.
package driver
