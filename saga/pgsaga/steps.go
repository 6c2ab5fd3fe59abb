package pgsaga

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/saga"
)

// ErrRefused is returned (as a permanent error) by a step built with
// Action when the barrier refuses it: its compensation ran first.
var ErrRefused = errors.New("pgsaga: action refused: its compensation already ran")

// Beginner starts transactions; *pgxpool.Pool and *pgx.Conn satisfy it.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Work is the business change of a saga step, run in tx.
type Work[T any] func(ctx context.Context, tx pgx.Tx, c saga.Call, data T) error

// Action returns a saga action that runs work in one local transaction
// on db behind barrier b (key: saga id and step, operation OpAction), and
// commits. A redelivered action is skipped; an action whose compensation
// already ran is refused. The transaction is open only for work itself.
func Action[T any](b *Barrier, db Beginner, work Work[T]) saga.Func[T] {
	return step(b, db, OpAction, work)
}

// Compensation returns a saga compensation that runs work in one local
// transaction on db behind barrier b (operation OpCompensate). It is
// skipped when the action never committed (null compensation) or when it
// ran before.
func Compensation[T any](b *Barrier, db Beginner, work Work[T]) saga.Func[T] {
	return step(b, db, OpCompensate, work)
}

func step[T any](b *Barrier, db Beginner, op Op, work Work[T]) saga.Func[T] {
	return func(ctx context.Context, c saga.Call, data T) error {
		if b == nil || db == nil || work == nil {
			return saga.Permanent(fmt.Errorf("%w: nil barrier, database or work", ErrInvalidBarrier))
		}
		tx, err := db.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		out, err := b.Do(ctx, tx, KeyOf(c), op, func(ctx context.Context) error { return work(ctx, tx, c, data) })
		if err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		if out == Refused {
			return saga.Permanent(fmt.Errorf("%w: saga %q step %q", ErrRefused, c.SagaID, c.Step))
		}
		return nil
	}
}
