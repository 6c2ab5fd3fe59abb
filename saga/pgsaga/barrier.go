package pgsaga

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/saga"
)

// DefaultBarrierTable is the barrier table when BarrierOptions.Table is
// empty.
const DefaultBarrierTable = "scalekit_saga_barrier"

// ErrInvalidBarrier is returned by the barrier for bad input: an empty
// transaction id or branch, an unknown operation, a nil transaction or
// function.
var ErrInvalidBarrier = errors.New("pgsaga: invalid barrier call")

// Op is the operation a barrier call guards.
type Op string

// Operations.
const (
	// OpAction is a saga action or a TCC try.
	OpAction Op = "action"
	// OpCompensate is a saga compensation or a TCC cancel.
	OpCompensate Op = "compensate"
	// OpConfirm is a TCC confirm.
	OpConfirm Op = "confirm"
)

// Outcome says what a barrier call did.
type Outcome int

// Outcomes. Only Ran called the function.
const (
	// Ran: first delivery; the function ran (and its error, if any, was
	// returned: roll the transaction back, which also removes the
	// barrier row, so a retry runs it again).
	Ran Outcome = iota
	// Duplicate: the operation already ran (committed) for this key;
	// the function was skipped.
	Duplicate
	// NullCompensation: a compensation arrived for an action that never
	// ran; the function was skipped, and the action is refused from now
	// on.
	NullCompensation
	// Refused: the action arrived after its compensation ("hanging");
	// the function was skipped and must never run.
	Refused
)

// String returns the outcome's name.
func (o Outcome) String() string {
	switch o {
	case Ran:
		return "ran"
	case Duplicate:
		return "duplicate"
	case NullCompensation:
		return "null compensation"
	case Refused:
		return "refused"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Key identifies a branch of a distributed transaction: the saga (or 2PC
// or TCC transaction) id and the branch (step or participant) name.
type Key struct {
	TxID, Branch string
}

// KeyOf returns the barrier key of a saga call: its saga id and step.
func KeyOf(c saga.Call) Key { return Key{TxID: c.SagaID, Branch: c.Step} }

// BarrierOptions configures a Barrier. A nil *BarrierOptions means the
// defaults.
type BarrierOptions struct {
	// Table names the barrier table, optionally schema-qualified
	// (default DefaultBarrierTable).
	Table string
}

// Barrier makes actions and compensations of distributed transactions
// run at most once each, in the right order, however often and in
// whatever order they are delivered. It writes a row keyed by (txid,
// branch, op) with a unique-key insert IN THE CALLER'S TRANSACTION, the
// same local transaction as the business change:
//
//   - a duplicate delivery finds its row and is skipped (Duplicate);
//   - a compensation first inserts the action's row too: if that
//     succeeds, the action never ran, so there is nothing to undo
//     (NullCompensation), and the action, should it arrive later, finds
//     the row and is refused (Refused) — no "hanging" reservation that
//     nobody will ever cancel.
//
// Because the insert and the business change commit or roll back
// together, there is no window in which one is visible without the
// other; a check-then-act in a separate transaction (or a separate
// database) has exactly that window. Concurrent deliveries of the same
// key wait on the unique index until the first commits. The table must
// therefore live in the business database.
//
// A Barrier is safe for concurrent use.
type Barrier struct {
	table string
	key   string
	ins   string
	sel   string
}

// NewBarrier returns a Barrier. It does no I/O; create the table with
// CreateSchema (OpenBarrier does both).
func NewBarrier(opts *BarrierOptions) (*Barrier, error) {
	var o BarrierOptions
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = DefaultBarrierTable
	}
	t, err := quoteName(o.Table)
	if err != nil {
		return nil, err
	}
	return &Barrier{table: t, key: "scalekit/pgsaga/barrier:" + o.Table,
		ins: `INSERT INTO ` + t + ` (txid, branch, op, reason) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		sel: `SELECT reason FROM ` + t + ` WHERE txid = $1 AND branch = $2 AND op = $3`,
	}, nil
}

// OpenBarrier is NewBarrier followed by CreateSchema.
func OpenBarrier(ctx context.Context, db DB, opts *BarrierOptions) (*Barrier, error) {
	b, err := NewBarrier(opts)
	if err != nil {
		return nil, err
	}
	if err := b.CreateSchema(ctx, db); err != nil {
		return nil, err
	}
	return b, nil
}

// CreateSchema creates the barrier table if it does not exist:
//
//	CREATE TABLE scalekit_saga_barrier (
//	    txid text, branch text, op text, reason text NOT NULL,
//	    created_at timestamptz NOT NULL DEFAULT now(),
//	    PRIMARY KEY (txid, branch, op));
//
// under an advisory lock (safe from many processes at once).
func (b *Barrier) CreateSchema(ctx context.Context, db DB) error {
	return createSchema(ctx, db, b.key, []string{`CREATE TABLE IF NOT EXISTS ` + b.table + ` (
	txid       text NOT NULL,
	branch     text NOT NULL,
	op         text NOT NULL,
	reason     text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (txid, branch, op)
)`})
}

// execer abstracts over pgx.Tx and *sql.Tx.
type execer interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	reason(ctx context.Context, q string, args ...any) (string, error)
}

type pgxTx struct{ tx pgx.Tx }

func (t pgxTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (t pgxTx) reason(ctx context.Context, q string, args ...any) (string, error) {
	var s string
	err := t.tx.QueryRow(ctx, q, args...).Scan(&s)
	return s, err
}

type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t sqlTx) reason(ctx context.Context, q string, args ...any) (string, error) {
	var s string
	err := t.tx.QueryRowContext(ctx, q, args...).Scan(&s)
	return s, err
}

// Do runs fn inside tx behind the barrier for (key, op) and reports what
// happened. fn runs only when the outcome is Ran; its error is returned
// as is, and the caller must then roll tx back. Commit tx after Do
// returns nil, whatever the outcome, so that the barrier row persists.
func (b *Barrier) Do(ctx context.Context, tx pgx.Tx, key Key, op Op, fn func(ctx context.Context) error) (Outcome, error) {
	if tx == nil {
		return Ran, fmt.Errorf("%w: nil pgx.Tx", ErrInvalidBarrier)
	}
	return b.do(ctx, pgxTx{tx}, key, op, fn)
}

// DoSQL is Do for a database/sql transaction on PostgreSQL (pgx's stdlib
// driver or lib/pq).
func (b *Barrier) DoSQL(ctx context.Context, tx *sql.Tx, key Key, op Op, fn func(ctx context.Context) error) (Outcome, error) {
	if tx == nil {
		return Ran, fmt.Errorf("%w: nil *sql.Tx", ErrInvalidBarrier)
	}
	return b.do(ctx, sqlTx{tx}, key, op, fn)
}

func (b *Barrier) do(ctx context.Context, tx execer, key Key, op Op, fn func(ctx context.Context) error) (Outcome, error) {
	switch {
	case strings.TrimSpace(key.TxID) == "" || strings.TrimSpace(key.Branch) == "":
		return Ran, fmt.Errorf("%w: empty transaction id or branch in %+v", ErrInvalidBarrier, key)
	case op != OpAction && op != OpCompensate && op != OpConfirm:
		return Ran, fmt.Errorf("%w: unknown operation %q", ErrInvalidBarrier, op)
	case fn == nil:
		return Ran, fmt.Errorf("%w: nil function", ErrInvalidBarrier)
	}
	if op == OpCompensate {
		// Claim the action's slot: if nobody had it, the action never
		// ran (and now never will).
		n, err := tx.exec(ctx, b.ins, key.TxID, key.Branch, string(OpAction), string(op))
		if err != nil {
			return Ran, fmt.Errorf("pgsaga: barrier %s %+v: %w", op, key, err)
		}
		if n == 1 {
			if _, err := tx.exec(ctx, b.ins, key.TxID, key.Branch, string(op), string(op)); err != nil {
				return Ran, fmt.Errorf("pgsaga: barrier %s %+v: %w", op, key, err)
			}
			return NullCompensation, nil
		}
	}
	n, err := tx.exec(ctx, b.ins, key.TxID, key.Branch, string(op), string(op))
	if err != nil {
		return Ran, fmt.Errorf("pgsaga: barrier %s %+v: %w", op, key, err)
	}
	if n == 0 {
		if op != OpAction {
			return Duplicate, nil
		}
		r, err := tx.reason(ctx, b.sel, key.TxID, key.Branch, string(op))
		if err != nil {
			return Ran, fmt.Errorf("pgsaga: barrier %s %+v: %w", op, key, err)
		}
		if r == string(OpCompensate) {
			return Refused, nil
		}
		return Duplicate, nil
	}
	return Ran, fn(ctx)
}
