// Command shortener is a URL shortener composed from every scalekit
// package: idgen (Snowflake codes, node ids leased through lock), sketch
// (Bloom filter for aliases, HyperLogLog for unique visitors), cache
// (tiered cache-aside with negative caching and cross-node invalidation),
// ratelimit (per API key and per client), httpx (the server stack), lb
// (a reverse proxy in front of -nodes instances), shard (links routed by a
// versioned two-level shard map), saga (deleting a link and its stats) and
// queue (the click queue, with an idempotent analytics consumer and a DLQ).
//
//	go run ./examples/shortener                 # memory, one node
//	go run ./examples/shortener -nodes 3        # three nodes behind lb
//	go run ./examples/shortener -redis redis://127.0.0.1:6379/0 -postgres postgres://…
//
// See README.md in this directory for the request path and measurements.
package main
