// Package driver defines the interface that a queue backend implements for
// package queue.
//
// Users never call a driver directly: they hold a *queue.Queue, which
// validates input, assigns message ids, batches, runs handlers with bounded
// concurrency, applies nack policies (backoff with jitter, dead-lettering
// after the maximum number of deliveries), extends visibility while a
// handler runs, and reports spans and metrics. A driver maps each call to
// one engine operation and returns the engine's own error; it does not
// retry, batch beyond the slice it is given, trace or validate.
//
// # Model
//
// A topic has any number of subscriptions. Publishing to a topic stores one
// copy of each message for every subscription that exists at the time
// (fan-out); a topic with no subscription drops what is published to it.
// Consumers of one subscription compete for its messages (work queue).
//
// Inside a subscription a message is in one of four states:
//
//	ready     NotBefore has passed and no consumer holds it
//	delayed   NotBefore is in the future (published with a delay, or nacked
//	          with a retry delay)
//	leased    handed out by Receive until its visibility deadline; when the
//	          deadline passes without Ack, Nack or Extend it is ready again
//	dead      moved to the subscription's dead-letter queue (DLQ)
//
// Ack deletes a leased message. Nack makes it delayed (retry), dead, or
// deletes it (drop).
//
// # Delivery count
//
// Delivery.Deliveries counts how many times Receive has handed the message
// out, this time included: 1 on the first delivery. The driver increments
// it durably before Receive returns, so a consumer that crashes mid-handler
// still used up a delivery; a retry nack and a visibility expiry keep it;
// Redrive resets it to 0. Package queue dead-letters a message whose count
// exceeds the subscription's maximum before running the handler, which
// bounds redelivery loops even for a message that crashes its consumer.
//
// # Ordering keys
//
// A message with a non-empty Key is deliverable only when it is the oldest
// (lowest publish sequence) message with that key in the subscription that
// is not yet acked, dropped or dead. So at most one message per key is
// leased at any time across all consumers, and messages of one key are
// handled in publish order, also across retries; messages of other keys
// (and keyless ones) are not held up. A delayed head holds its key's later
// messages back until it is delivered and settled. Keyless messages have no
// order guarantee.
//
// # Priority and delay
//
// Among ready messages, Receive returns higher Priority first and, within
// one priority, lower publish sequence first (best effort across shards of
// a distributed engine). A message is never returned before its NotBefore
// time (engine clock; drivers on a shared engine should use the engine's
// clock, memqueue uses its Clock).
//
// # Durability
//
// Publish returns nil only after the engine holds every message as durably
// as it offers: a committed transaction in PostgreSQL (subject to
// synchronous_commit), an appended stream entry in Redis (subject to its
// appendfsync setting and replication), a stream ack from JetStream (its
// replicas), process memory for memqueue. Each backend's package
// documentation states its guarantee. On error some messages of the batch
// may have been stored; publishing the batch again is safe for messages
// that carry a DedupID.
//
// # Dead-letter queue
//
// Each subscription has its own DLQ. A dead letter keeps the message
// (id, body, headers, key, priority), its delivery count, the reason given
// by package queue ("max deliveries", "handler", "dead-letter", "poison"),
// the last handler error and the time it died. Redrive moves dead letters
// back to the subscription, ready at once with the delivery count reset to
// 0 and a new publish sequence (behind the live messages of its key).
//
// # Optional interfaces
//
// Notifier lets a backend wake idle consumers when messages arrive, so
// that they need not poll quickly; Limited reports input bounds; Retryable
// tells transient engine errors apart; Local marks in-process engines
// (no spans); DedupWindowed reports how long DedupIDs are remembered.
package driver
