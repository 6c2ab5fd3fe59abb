// Package driver defines the interfaces that cache backends implement.
//
// There are two kinds of store:
//
//   - Store is a byte-level remote store (Redis, memcached, or the in-process
//     memorycache.Bytes). Keys are strings, values are opaque bytes, every
//     entry has an optional TTL. Package cache puts a typed front with a codec
//     on top of it; other packages (for example httpx idempotency keys and
//     sessions) may use a Store directly.
//   - Local is a typed in-process store that keeps values without
//     serialising them (memorycache.Store implements it).
//
// Drivers are thin: one call maps to one engine operation, errors are the
// engine's own (or the sentinels below), and nothing is retried, batched,
// traced or validated beyond what the engine itself needs. The concrete type
// in package cache does that. Applications use package cache; backend
// authors and low-level users import this package.
package driver
