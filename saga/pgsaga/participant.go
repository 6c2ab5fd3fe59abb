package pgsaga

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scalekit-go/scalekit/saga"
	"github.com/scalekit-go/scalekit/saga/driver"
)

// GIDPrefix starts the global id of every prepared transaction a
// Resource creates: "<GIDPrefix><resource name>:<txid>".
const GIDPrefix = "sk2pc:"

// maxGID is PostgreSQL's limit on a prepared transaction's gid (GIDSIZE-1).
const maxGID = 199

// ResourceOptions configures a Resource. A nil *ResourceOptions means the
// defaults.
type ResourceOptions struct{}

// Resource is one PostgreSQL database taking part in two-phase-commit
// transactions through PREPARE TRANSACTION. Branch returns the
// participant of one transaction; the Resource itself is the Resolver to
// register with saga.Coordinator for recovery (COMMIT PREPARED / ROLLBACK
// PREPARED by transaction id), and Sweep resolves prepared transactions
// that no coordinator will finish.
//
// The server must run with max_prepared_transactions > 0. A prepared
// transaction holds its locks and pins the xmin horizon (vacuum stops
// cleaning up behind it) until it is finished, so run Sweep periodically.
//
// A Resource is safe for concurrent use if db is.
type Resource struct {
	name   string
	db     DB
	prefix string
}

var _ saga.Resolver = (*Resource)(nil)

// NewResource returns a Resource named name (unique among the resources
// of the coordinators that share a decision log, and across databases of
// one server, since prepared-transaction ids are server-wide) on db. It
// does no I/O.
func NewResource(name string, db DB, _ *ResourceOptions) (*Resource, error) {
	if db == nil {
		return nil, errors.New("pgsaga: NewResource with a nil DB")
	}
	if name == "" || strings.ContainsAny(name, ":'\x00") {
		return nil, fmt.Errorf("pgsaga: invalid resource name %q (non-empty, without ':', quotes or NUL)", name)
	}
	return &Resource{name: name, db: db, prefix: GIDPrefix + name + ":"}, nil
}

// Name returns the resource's name.
func (r *Resource) Name() string { return r.name }

func (r *Resource) gid(txid string) (string, error) {
	g := r.prefix + txid
	if txid == "" || len(g) > maxGID || strings.IndexByte(txid, 0) >= 0 {
		return "", fmt.Errorf("pgsaga: transaction id %q is empty, has a NUL, or makes a gid longer than %d bytes", txid, maxGID)
	}
	return "'" + strings.ReplaceAll(g, "'", "''") + "'", nil
}

// Branch returns the participant of one transaction on this resource:
// Prepare runs work in a new transaction and then PREPARE TRANSACTION;
// Commit and Abort are the Resource's.
func (r *Resource) Branch(work func(ctx context.Context, tx pgx.Tx) error) saga.Participant {
	return &branch{Resource: r, work: work}
}

type branch struct {
	*Resource
	work func(ctx context.Context, tx pgx.Tx) error
}

// Prepare implements saga.Participant.
func (b *branch) Prepare(ctx context.Context, txid string) error {
	gid, err := b.gid(txid)
	if err != nil {
		return saga.Permanent(err)
	}
	if b.work == nil {
		return saga.Permanent(errors.New("pgsaga: Branch with nil work"))
	}
	tx, err := b.db.Begin(ctx)
	if err != nil {
		return err
	}
	if err := b.work(ctx, tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if _, err := tx.Exec(ctx, "PREPARE TRANSACTION "+gid); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	// The session has no transaction any more; COMMIT only ends pgx's
	// bookkeeping (the server answers with a warning).
	_ = tx.Commit(context.WithoutCancel(ctx))
	return nil
}

// isUndefined reports whether err says the prepared transaction does not
// exist (SQLSTATE 42704).
func isUndefined(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42704"
}

// Commit implements saga.Resolver: COMMIT PREPARED. A transaction that
// is not prepared (any more) counts as committed: the coordinator only
// commits after every branch prepared, so it was committed before.
func (r *Resource) Commit(ctx context.Context, txid string) error {
	gid, err := r.gid(txid)
	if err != nil {
		return saga.Permanent(err)
	}
	if _, err := r.db.Exec(ctx, "COMMIT PREPARED "+gid); err != nil && !isUndefined(err) {
		return err
	}
	return nil
}

// Abort implements saga.Resolver: ROLLBACK PREPARED; a transaction that
// is not prepared is fine (never prepared, or rolled back before).
func (r *Resource) Abort(ctx context.Context, txid string) error {
	gid, err := r.gid(txid)
	if err != nil {
		return saga.Permanent(err)
	}
	if _, err := r.db.Exec(ctx, "ROLLBACK PREPARED "+gid); err != nil && !isUndefined(err) {
		return err
	}
	return nil
}

// Prepared returns the transaction ids this resource has prepared in its
// database and not finished, prepared longer than olderThan ago.
func (r *Resource) Prepared(ctx context.Context, olderThan time.Duration) ([]string, error) {
	rows, err := r.db.Query(ctx, `SELECT gid FROM pg_prepared_xacts
WHERE database = current_database() AND starts_with(gid, $1) AND prepared < now() - $2::interval ORDER BY gid`,
		r.prefix, fmt.Sprintf("%d microseconds", olderThan.Microseconds()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		out = append(out, strings.TrimPrefix(g, r.prefix))
	}
	return out, rows.Err()
}

// Sweep resolves the prepared transactions of this resource older than
// olderThan from the decision log: committed if the log says commit,
// otherwise (no decision, abort, or unknown to the log) an abort is
// recorded first — so that a coordinator still about to commit is
// refused — and the transaction rolled back. Orphans come from a
// coordinator that crashed between prepare and phase two, or a PREPARE
// that landed after its coordinator gave up on it. It returns how many
// it resolved.
func (r *Resource) Sweep(ctx context.Context, log driver.TxLog, olderThan time.Duration) (int, error) {
	if log == nil || olderThan < 0 {
		return 0, errors.New("pgsaga: Sweep needs a log and a non-negative age")
	}
	ids, err := r.Prepared(ctx, olderThan)
	if err != nil {
		return 0, fmt.Errorf("pgsaga: sweep %s: %w", r.name, err)
	}
	n := 0
	var errs []error
	for _, id := range ids {
		d, err := log.Decide(ctx, id, driver.Abort)
		if err != nil {
			errs = append(errs, fmt.Errorf("pgsaga: sweep %s %q: %w", r.name, id, err))
			continue
		}
		if d == driver.Commit {
			err = r.Commit(ctx, id)
		} else {
			err = r.Abort(ctx, id)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("pgsaga: sweep %s %q: %w", r.name, id, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
