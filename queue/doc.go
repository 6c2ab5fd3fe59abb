// Package queue is at-least-once messaging over a pluggable backend:
// topics with fan-out subscriptions, competing consumers, per-key
// ordering, priorities, delayed delivery, explicit nack policies with
// bounded retries, a dead-letter queue per subscription, visibility
// timeouts with heartbeats, and graceful shutdown.
//
// A Queue wraps a driver (package queue/driver): memqueue in-process,
// pgqueue on PostgreSQL, redisqueue on Redis Streams, natsqueue on NATS
// JetStream. The Queue validates input, generates ids, batches, runs
// handlers, applies policies and reports OpenTelemetry spans and metrics;
// every backend passes the same conformance suite, queue/queuetest.
//
// # Publishing
//
//	ids, err := q.Publish(ctx, "orders", queue.Message{Body: b, Key: customerID})
//
// Publish returns once the backend holds the messages durably (what that
// means is stated per backend). Each subscription of the topic gets a
// copy. A Message may carry headers, an ordering key, a priority, a delay
// or a delivery time, and a DedupID that makes a retried publish store the
// message once.
//
// # Consuming
//
//	sub, err := q.Subscribe(ctx, "orders", "billing", &queue.SubscriptionOptions{MaxDeliveries: 5})
//	err = sub.Consume(ctx, func(ctx context.Context, d *queue.Delivery) error {
//		return bill(ctx, d.Body) // nil acks; an error retries with backoff
//	}, &queue.ConsumeOptions{Concurrency: 8})
//
// The outcome of every delivery is explicit. A handler returns nil (ack),
// an error made by Nack with a Policy (RetryBackoff, RetryAfter(d),
// DeadLetterNow, Drop), or any other error or a panic, which follows the
// subscription's OnError policy. A message that has been delivered
// MaxDeliveries times goes to the dead-letter queue instead of being
// retried, with the reason, its last error and its delivery count; this
// also holds for a message whose consumer crashed every time. The
// dead-letter queue is listed, inspected, redriven and purged through the
// Subscription.
//
// Every delivery is leased for the subscription's Visibility; the lease
// is extended in the background while the handler runs, and a consumer
// that dies leaves its messages to be redelivered when their lease ends.
// Extension stops once nobody will settle a delivery: after Queue.Close
// for deliveries from Receive, and at the shutdown deadline for handlers
// a Consume gave up on (see Queue.Close).
//
// Messages with the same ordering key are handled one at a time, in
// publish order, by all the consumers of a subscription together; other
// keys go on in parallel, so a slow or failing key holds up only itself.
//
// Receive is the pull alternative to Consume: it returns one leased
// Delivery that the caller settles with Ack, Nack or Settle.
// ReceiveBatch returns up to n at once, and Subscription.Ack acks many in
// one call to the backend.
//
// # Exactly-once effects
//
// Delivery is at least once. Idempotent wraps a handler so that a message
// id that was handled successfully before is acked without running the
// handler again, using a DedupStore (in memory here; Redis and PostgreSQL
// in queue/dedupstore).
//
// # Telemetry
//
// Metrics are named scalekit.queue.* (published, delivered, redelivered,
// acked, nacked by action, dead_lettered, in_flight, backlog, dead_letters
// and oldest_age per subscription); see docs/metrics.md. Publish injects
// the trace context of its ctx into the message headers and Consume starts
// each handler's span as its child. No spans are started for in-process
// backends (memqueue) or while no tracer provider is installed; the trace
// context still reaches the handler's ctx.
package queue
