package pgsaga

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scalekit-go/scalekit/lock/pglock"
)

// DB is what the log needs from a database handle; *pgxpool.Pool
// satisfies it and is the usual choice. Do not pass a pgx.Tx: log writes
// must commit on their own, before and after each step.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// quoteName quotes "table" or "schema.table" as an SQL identifier.
func quoteName(t string) (string, error) {
	parts := strings.Split(t, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("pgsaga: invalid table name %q (want table or schema.table)", t)
	}
	for _, p := range parts {
		if p == "" || strings.IndexByte(p, 0) >= 0 {
			return "", fmt.Errorf("pgsaga: invalid table name %q", t)
		}
	}
	return pgx.Identifier(parts).Sanitize(), nil
}

// createSchema runs stmts in one transaction under an advisory lock named
// key, so that processes creating the schema at once do not collide.
func createSchema(ctx context.Context, db DB, key string, stmts []string) error {
	if db == nil {
		return errors.New("pgsaga: nil DB")
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgsaga: create schema: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := pglock.LockXact(ctx, tx, key); err != nil {
		return fmt.Errorf("pgsaga: create schema: %w", err)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("pgsaga: create schema: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgsaga: create schema: %w", err)
	}
	return nil
}

// logSchema returns the statements that create the saga and decision
// tables (see Log.CreateSchema).
func logSchema(sagas, txs, index string) []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + sagas + ` (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	state      text NOT NULL,
	data       bytea NOT NULL,
	steps      jsonb NOT NULL,
	error      text NOT NULL DEFAULT '',
	fence      bigint NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
)`,
		`CREATE INDEX IF NOT EXISTS ` + index + ` ON ` + sagas + ` (state, id) WHERE state IN ('running', 'compensating', 'stuck')`,
		`CREATE TABLE IF NOT EXISTS ` + txs + ` (
	id           text PRIMARY KEY,
	participants text[] NOT NULL DEFAULT '{}',
	decision     text NOT NULL DEFAULT '',
	finished     boolean NOT NULL DEFAULT false,
	created_at   timestamptz NOT NULL DEFAULT now(),
	updated_at   timestamptz NOT NULL DEFAULT now()
)`,
	}
}
