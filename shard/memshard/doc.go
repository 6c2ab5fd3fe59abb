// Package memshard is the in-process backend of package shard: a map store
// and a directory held in memory. It is safe for concurrent use and is the
// backend for unit tests and single-process services; it passes the
// shardtest conformance suite.
package memshard
