package pgidgen

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultTable is the table used when Options.Table is empty.
const DefaultTable = "scalekit_idgen_segments"

// DB is what Source needs from a database handle; *pgxpool.Pool satisfies
// it (a single *pgx.Conn does too, but is not safe for concurrent use).
type DB interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Options configures a Source. A nil *Options means the defaults.
type Options struct {
	// Table is the table name, optionally schema-qualified as
	// "schema.table" (default DefaultTable).
	Table string
}

// Source is a driver.SegmentSource on a PostgreSQL table. It is safe for
// concurrent use if db is.
type Source struct {
	db     DB
	table  string // quoted identifier
	upsert string
}

// New returns a Source on db. It does no I/O: use Open to create the table
// as well, or create it by migration (see CreateTable for its definition).
func New(db DB, opts *Options) (*Source, error) {
	if db == nil {
		return nil, errors.New("pgidgen: nil DB")
	}
	table := DefaultTable
	if opts != nil && opts.Table != "" {
		table = opts.Table
	}
	ident, err := quoteTable(table)
	if err != nil {
		return nil, err
	}
	return &Source{
		db:    db,
		table: ident,
		upsert: "INSERT INTO " + ident + " (name, next_id) VALUES ($1, 1 + $2::bigint) " +
			"ON CONFLICT (name) DO UPDATE SET next_id = " + ident + ".next_id + $2::bigint " +
			"RETURNING next_id - $2::bigint",
	}, nil
}

func quoteTable(t string) (string, error) {
	var parts pgx.Identifier
	start := 0
	for i := 0; i <= len(t); i++ {
		if i == len(t) || t[i] == '.' {
			if i == start {
				return "", fmt.Errorf("pgidgen: invalid table name %q", t)
			}
			parts = append(parts, t[start:i])
			start = i + 1
		}
	}
	if len(parts) > 2 {
		return "", fmt.Errorf("pgidgen: invalid table name %q (want table or schema.table)", t)
	}
	return parts.Sanitize(), nil
}

// Open returns a Source on db after creating its table if it does not
// exist (CreateTable). Any number of processes may Open at once.
func Open(ctx context.Context, db DB, opts *Options) (*Source, error) {
	s, err := New(db, opts)
	if err != nil {
		return nil, err
	}
	if err := s.CreateTable(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// CreateTable creates the table if it does not exist:
//
//	CREATE TABLE IF NOT EXISTS scalekit_idgen_segments (
//	    name    text PRIMARY KEY,
//	    next_id bigint NOT NULL CHECK (next_id > 0)
//	)
//
// It is safe to call from many processes at once: CREATE TABLE IF NOT
// EXISTS alone races in PostgreSQL's catalog (SQLSTATE 23505), so the
// statement runs in one implicit transaction after the transaction-scoped
// advisory lock pg_advisory_xact_lock(hashtextextended(
// 'scalekit/pgidgen/schema:<table>', 0)), as pglock does.
func (s *Source) CreateTable(ctx context.Context) error {
	lockKey := strings.ReplaceAll("scalekit/pgidgen/schema:"+s.table, "'", "''")
	// No arguments: pgx sends this with the simple protocol, as one
	// implicit transaction, so the lock is held until the table is created.
	_, err := s.db.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('"+lockKey+"', 0)); "+
		"CREATE TABLE IF NOT EXISTS "+s.table+
		" (name text PRIMARY KEY, next_id bigint NOT NULL CHECK (next_id > 0))")
	if err != nil {
		return fmt.Errorf("pgidgen: create table %s: %w", s.table, err)
	}
	return nil
}

// NextBlock reserves [start, start+size) of the sequence name in one
// statement.
func (s *Source) NextBlock(ctx context.Context, name string, size int64) (int64, error) {
	if size < 1 {
		return 0, fmt.Errorf("pgidgen: block size %d < 1", size)
	}
	var start int64
	if err := s.db.QueryRow(ctx, s.upsert, name, size).Scan(&start); err != nil {
		return 0, fmt.Errorf("pgidgen: next block of %q: %w", name, err)
	}
	return start, nil
}
