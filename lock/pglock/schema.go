package pglock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultTable is the lease table used when Options.Table is empty; the
// token sequence is named after it with the suffix "_token".
const DefaultTable = "scalekit_locks"

// MaxKeyLen is the longest key, in bytes, the lease table accepts. It keeps
// the primary-key index entry well under PostgreSQL's btree row limit.
const MaxKeyLen = 1024

// DB is what Driver needs from a database handle. *pgxpool.Pool satisfies
// it and is the usual choice (and the only one with which Notify works); a
// single *pgx.Conn does too but is not safe for concurrent use. Do not pass
// a pgx.Tx: a lease taken inside an open transaction stays invisible to
// other sessions until it commits, and now() is the transaction's start.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// quoteTable quotes "table" or "schema.table" as an SQL identifier and
// returns it with the quoted name of the token sequence next to it.
func quoteTable(t string) (table, seq string, err error) {
	parts := strings.Split(t, ".")
	if len(parts) > 2 {
		return "", "", fmt.Errorf("pglock: invalid table name %q (want table or schema.table)", t)
	}
	for _, p := range parts {
		if p == "" {
			return "", "", fmt.Errorf("pglock: invalid table name %q", t)
		}
		if err := checkText(p); err != nil {
			return "", "", fmt.Errorf("pglock: invalid table name %q: %w", t, err)
		}
	}
	seqParts := append([]string(nil), parts...)
	seqParts[len(seqParts)-1] += "_token"
	return pgx.Identifier(parts).Sanitize(), pgx.Identifier(seqParts).Sanitize(), nil
}

// checkText rejects strings PostgreSQL cannot store in a text column.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("contains a NUL byte")
	}
	return nil
}

// schemaSQL returns the statements that create the lease table and its
// token sequence. Rows are never deleted: a released or expired lease stays
// as a row with an empty owner, so that every later acquisition of its key
// goes through the row lock of ON CONFLICT DO UPDATE and draws its token
// after the previous holder's (see Driver).
func schemaSQL(table, seq string) []string {
	return []string{
		"CREATE SEQUENCE IF NOT EXISTS " + seq + " AS bigint MINVALUE 1 NO CYCLE",
		"CREATE TABLE IF NOT EXISTS " + table + ` (
	key        text PRIMARY KEY,
	owner      text NOT NULL DEFAULT '',
	meta       text NOT NULL DEFAULT '',
	token      bigint NOT NULL,
	expires_at timestamptz NOT NULL
)`,
	}
}

// createSchema runs the schema statements in one transaction that first
// takes an advisory lock, so that processes creating the schema at the same
// time do not trip over each other's catalog rows.
func createSchema(ctx context.Context, db DB, table, seq string) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := LockXact(ctx, tx, "scalekit/pglock/schema:"+table); err != nil {
		return err
	}
	for _, s := range schemaSQL(table, seq) {
		if _, err := tx.Exec(ctx, s); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}
