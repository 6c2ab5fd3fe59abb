// Package rediscache is the Redis backend of package cache: a
// driver.Store (GET/SET PX/SET NX/DEL, pipelined multi-key calls) and a
// driver.Broadcaster (PUBLISH/SUBSCRIBE) used by tiered caches to clear
// every instance's in-process L1 after a write or delete.
//
// Use it through cache.NewRemote (shared cache only) or cache.OpenTiered
// (memorycache L1 in front of Redis). Other packages may use a Store
// directly as a TTL key/value store with an atomic set-if-absent (Add).
//
// Every command touches one key, so keys and prefixes may contain braces
// (Redis Cluster hash tags) freely: they choose a key's slot and never make
// a call fail with CROSSSLOT (tested on a three-master Cluster).
package rediscache
