// Command quickstart is a small HTTP service that hands out unique IDs and
// decodes them, running entirely on scalekit's in-memory defaults: no
// database, no Redis.
//
//	go run ./examples/quickstart            # listens on :8080
//	curl localhost:8080/id                  # one Snowflake ID
//	curl 'localhost:8080/id?n=3'            # three
//	curl localhost:8080/decode/2PocIpJRWT2  # base62, base32 or decimal
//	curl localhost:8080/ticket              # a dense ID from a Segment
//
// The Snowflake generator runs under a node-id lease (memidgen here; a
// lock-based driver in production), and the ticket endpoint draws from a
// Segment whose blocks come from an in-memory source (PostgreSQL or Redis
// in production). SIGINT or SIGTERM shuts the server down gracefully,
// letting in-flight requests finish.
package main
