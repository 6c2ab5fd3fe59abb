// Package rediscache is the Redis backend of package cache: a
// driver.Store (GET/SET PX/SET NX/DEL, pipelined multi-key calls) and a
// driver.Broadcaster (PUBLISH/SUBSCRIBE) used by tiered caches to clear
// every instance's in-process L1 after a write or delete.
//
// Use it through cache.NewRemote (shared cache only) or cache.OpenTiered
// (memorycache L1 in front of Redis). Other packages may use a Store
// directly as a TTL key/value store with an atomic set-if-absent (Add).
package rediscache
