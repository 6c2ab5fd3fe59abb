// Package memorycache is the in-process backend of package cache.
//
// Store[K, V] is a bounded, sharded, typed store with per-entry TTL,
// capacity by entry count or by cost (a Weigher), and pluggable eviction:
// S3FIFO (the default, admission-controlled, scan resistant, lock-free
// hits), LRU, LFU, FIFO, LIFO, MRU and Random. It implements driver.Local,
// so cache.NewLocal and cache.OpenTiered (as L1) use it without
// serialising values; it is also usable on its own.
//
// Bytes is the byte-level driver.Store (and driver.Broadcaster, over an
// in-process Bus) on top of a Store, for code that wants the same API as
// rediscache in tests or single-process deployments.
package memorycache
