package pgsaga

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/queue"
	"github.com/scalekit-go/scalekit/queue/outbox"
)

// PublishOnCommit is the 2-phase message of the saga family: it runs work
// and stores msgs for topic in one local transaction on db, so the
// messages are published if and only if the business change commits. An
// outbox.Relay (one active instance, through lock election) publishes them
// afterwards, at least once and in order per ordering key; consumers
// deduplicate by message ID (queue.Idempotent).
//
// Nothing is ever published for a transaction that rolled back, and a
// crash after the commit loses nothing: the rows wait in the outbox table
// (created by outbox.Open) until a relay runs. When work returns an error
// the transaction is rolled back and that error is returned unwrapped.
// PublishOnCommit holds the transaction only for work and one batched
// insert, never across a remote call.
func PublishOnCommit(ctx context.Context, db Beginner, topic string, msgs []queue.Message, work func(ctx context.Context, tx pgx.Tx) error) (err error) {
	if db == nil {
		return errors.New("pgsaga: PublishOnCommit with a nil db")
	}
	if work == nil {
		return errors.New("pgsaga: PublishOnCommit with a nil work function")
	}
	if len(msgs) == 0 {
		return errors.New("pgsaga: PublishOnCommit with no messages (use a plain transaction)")
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx)) // the error that matters is err
		}
	}()
	if err := work(ctx, tx); err != nil {
		return err
	}
	if err := outbox.Write(ctx, tx, topic, msgs...); err != nil {
		return fmt.Errorf("pgsaga: write outbox: %w", err)
	}
	return tx.Commit(ctx)
}
