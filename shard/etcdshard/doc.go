// Package etcdshard is shard's etcd backend, in its own module so that
// services without etcd do not download its client: a driver.MapStore whose
// changes reach every router through etcd watches, and a driver.Directory.
// Every compare-and-swap is an etcd transaction on the key's ModRevision.
package etcdshard
