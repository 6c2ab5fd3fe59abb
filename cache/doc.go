// Package cache is a typed cache front, Cache[K, V], over pluggable stores,
// with every caching strategy in one place.
//
// Stores: NewLocal takes a typed in-process store (memorycache.Store; values
// are kept as they are), NewRemote a byte-level driver.Store (rediscache,
// memorycache.Bytes; values go through a Codec, JSON by default), and
// OpenTiered combines an in-process L1 with a shared L2 and broadcasts
// invalidations so a write or delete on one instance clears L1 everywhere.
//
// Strategies:
//
//   - cache-aside: Get, GetMulti, Set, SetMulti, Delete, Add;
//   - read-through: GetOrLoad, with singleflight (N concurrent misses of a
//     key → one loader call; its result, error or panic reaches every
//     waiter);
//   - write-through (WriteThrough) and write-around (WriteAround);
//   - write-behind (NewWriteBehind): bounded, coalescing queue flushed in
//     batches by size and interval, with retry, metrics and a documented
//     loss bound; its Get and GetOrLoad serve writes not yet flushed even
//     if the cache evicted them, and Put after Close is refused untouched;
//   - refresh-ahead (Options.RefreshAhead), stale-while-revalidate and
//     stale-if-error, TTL jitter, XFetch probabilistic early expiration
//     (Options.EarlyExpiration);
//   - negative caching (Options.NegativeTTL) and a Bloom-filter guard
//     (Options.Guard, BloomGuard over a sketch.Bloom);
//   - hot-key detection (Options.HotKeys, a sketch.TopK, sampled by
//     Options.HotKeysSample; Cache.HotKeys);
//   - pre-warming (Warm).
//
// Every Cache counts hits, misses, loads, load errors and evictions (Stats)
// and exports them, with the hit ratio, as OpenTelemetry metrics.
package cache
