// Package dedupstore has the shared-engine stores of queue.Idempotent:
// Redis (SET NX with expiry) and PostgreSQL (an upsert on a table), so
// that consumers in many processes handle each message id once.
package dedupstore
