// Package etcdlb plugs etcd into package lb as a service registry: servers
// Register their address under a key prefix, held by an etcd lease that is
// kept alive while they run, and clients build an lb.Balancer from a
// Resolver that watches the prefix.
//
// A server that stops cleanly (Registration.Close) disappears from every
// client at once; one that crashes or is partitioned disappears when its
// lease expires, after at most the registration TTL. The Resolver lists the
// prefix, then watches it from the listed revision, so it misses no change;
// after a watch error (a compaction, an etcd restart) it lists again.
//
// etcdlb is its own Go module, so that the etcd client and gRPC stay out of
// the dependencies of applications that do not use them.
package etcdlb
