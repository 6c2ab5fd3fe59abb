// Package natsqueue is the NATS JetStream backend of package queue. It is
// a nested module (its own go.mod), so that services that do not use NATS
// do not download its client.
//
// # Layout
//
// Each topic is a stream with interest retention: a message lives until
// every subscription has acked (or terminated) it, and one published to a
// topic without subscriptions is dropped. Each subscription is a durable
// pull consumer with explicit acks whose AckWait is the visibility;
// Receive is one no_wait pull request, read on the subscription's own
// inbox (one subscription, made once) until the server ends it
// (jetstream's FetchNoWait gives up after a second, and a message the
// server hands to an abandoned request comes back only after its
// AckWait, its delivery count raised; here the next request naks it, so
// it comes back at once).
// The Driver is a driver.Notifier: a stored Publish wakes idle consumers
// through an empty message on a core NATS subject no stream takes. Acks are pipelined and flushed,
// not confirmed one by one: the server applies them just after Ack
// returns (on a cluster, once the consumer's replicas agree), so Stats
// may count an acked message for a few milliseconds more. Extend is InProgress (the server restarts
// the message's AckWait), a retry is NakWithDelay (a bare Nak would come
// back at once and burn deliveries in milliseconds), a drop is Term.
// DedupIDs travel as Nats-Msg-Id within the stream's duplicate window;
// messages without one carry their id there, so a publish the client
// retries during a leader election is not stored twice.
//
// # What JetStream lacks, and how the driver builds it
//
//   - A dead-letter queue: package queue dead-letters a message (past
//     MaxDeliveries, or on request) through Nack; the driver publishes it
//     to the topic's DLQ stream (limits retention, one subject per
//     subscription and message id, so it can be looked up, listed in death
//     order, redriven and purged) and then terminates the original with a
//     confirmed +TERM. The consumer's own MaxDeliver is unlimited, so a
//     message is never silently parked by the server.
//   - Per-message state: the last handler error of a retried message and
//     the number of deliveries that were not handed out live in a KV
//     bucket ("<prefix>_STATE"), read only for redelivered messages.
//   - Delayed delivery: a message fetched before its NotBefore goes back
//     with NakWithDelay(remaining) and that delivery is not counted.
//   - Ordering keys: a per-subscription, per-key lock entry in the state
//     bucket, taken with compare-and-set by the key's oldest unsettled
//     message (found with the stream's next-by-subject get); later
//     messages of a busy key go back with NakWithDelay(GateDelay) without
//     counting as deliveries.
//
// Priority is not supported: a consumer delivers in stream order, and
// ordering by priority would need one consumer per level polled in turn.
//
// # Durability
//
// Publish returns once the stream acked every message: stored by the
// stream's leader and, with Replicas > 1, by a quorum of its replicas, in
// files unless MemoryStorage. Stats.InFlight counts the leases this Driver
// holds (JetStream reports a nacked message waiting for redelivery as
// ack-pending, so the server cannot tell leased ones apart).
package natsqueue
