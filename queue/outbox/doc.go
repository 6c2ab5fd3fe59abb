// Package outbox is the transactional outbox of package queue: a service
// writes messages into a PostgreSQL table inside its own transaction
// (Write for pgx.Tx, WriteSQL for *sql.Tx), so that they are published
// if and only if its business change commits, and a Relay publishes them
// to any scalekit queue, at least once and in order per ordering key.
//
// One relay of a fleet is active at a time (Relay.Run campaigns through a
// lock.Election). The relay never skips a row: it reads the oldest rows
// still in the table and deletes them once published, instead of
// following a "last relayed id" cursor, which loses rows whose id was
// allocated before, but which committed after, rows already relayed.
// Writers of one ordering key are serialised by a transaction advisory
// lock, so a key's rows commit, and are relayed, in id order.
package outbox
