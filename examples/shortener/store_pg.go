package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgStore is the PostgreSQL LinkStore. Each instance owns one table, so
// that several logical shards can live in one database (table
// shortener_links_<n>) or in separate ones.
type pgStore struct {
	pool  *pgxpool.Pool
	table string
}

// openPGStore creates the table if needed (under an advisory lock, so any
// number of nodes may start at once).
func openPGStore(ctx context.Context, pool *pgxpool.Pool, table string) (*pgStore, error) {
	ddl := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (
	code       text PRIMARY KEY,
	url        text NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	expires_at timestamptz,
	max_visits bigint NOT NULL DEFAULT 0,
	visits     bigint NOT NULL DEFAULT 0,
	permanent  boolean NOT NULL DEFAULT false,
	version    bigint NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS %[1]s_created ON %[1]s (created_at, code);`, table)
	if err := withAdvisoryLock(ctx, pool, "shortener-schema", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, ddl)
		return err
	}); err != nil {
		return nil, fmt.Errorf("create %s: %w", table, err)
	}
	return &pgStore{pool: pool, table: table}, nil
}

// withAdvisoryLock runs fn in a transaction holding a transaction-level
// advisory lock on key.
func withAdvisoryLock(ctx context.Context, pool *pgxpool.Pool, key string, fn func(pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, key); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

const linkCols = `code, url, created_at, updated_at, expires_at, max_visits, visits, permanent, version`

func scanLink(row pgx.Row) (Link, error) {
	var l Link
	var exp *time.Time
	err := row.Scan(&l.Code, &l.URL, &l.CreatedAt, &l.UpdatedAt, &exp, &l.MaxVisits, &l.Visits, &l.Permanent, &l.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return Link{}, ErrNotFound
	}
	if exp != nil {
		t := exp.UTC()
		l.ExpiresAt = &t
	}
	l.CreatedAt, l.UpdatedAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC()
	return l, err
}

func (s *pgStore) Create(ctx context.Context, l Link) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.table+` (`+linkCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		l.Code, l.URL, l.CreatedAt, l.UpdatedAt, l.ExpiresAt, l.MaxVisits, l.Visits, l.Permanent, l.Version)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return ErrExists
	}
	return err
}

func (s *pgStore) Get(ctx context.Context, code string) (Link, error) {
	return scanLink(s.pool.QueryRow(ctx, `SELECT `+linkCols+` FROM `+s.table+` WHERE code = $1`, code))
}

func (s *pgStore) Update(ctx context.Context, l Link) (Link, error) {
	out, err := scanLink(s.pool.QueryRow(ctx, `UPDATE `+s.table+` SET url=$2, updated_at=$3, expires_at=$4,
	max_visits=$5, permanent=$6, version=version+1 WHERE code=$1 AND version=$7 RETURNING `+linkCols,
		l.Code, l.URL, l.UpdatedAt, l.ExpiresAt, l.MaxVisits, l.Permanent, l.Version))
	if errors.Is(err, ErrNotFound) {
		if _, gerr := s.Get(ctx, l.Code); gerr == nil {
			return Link{}, ErrConflict
		}
	}
	return out, err
}

func (s *pgStore) Delete(ctx context.Context, code string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+s.table+` WHERE code = $1`, code)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Visit is one conditional UPDATE: the row lock serialises concurrent
// visits of one limited link, and the WHERE clause enforces the limit.
func (s *pgStore) Visit(ctx context.Context, code string) (Link, error) {
	l, err := scanLink(s.pool.QueryRow(ctx, `UPDATE `+s.table+` SET visits = visits + 1
	WHERE code = $1 AND (max_visits = 0 OR visits < max_visits) RETURNING `+linkCols, code))
	if errors.Is(err, ErrNotFound) {
		cur, gerr := s.Get(ctx, code)
		if gerr != nil {
			return Link{}, gerr
		}
		return cur, ErrGone
	}
	return l, err
}

var pgSortCols = map[string]string{"created_at": "created_at", "code": "code", "visits": "visits", "url": "url"}

func (s *pgStore) List(ctx context.Context, q ListQuery) ([]Link, int64, error) {
	col, ok := pgSortCols[q.Sort]
	if !ok {
		col = "created_at"
	}
	dir := "ASC"
	if q.Desc {
		dir = "DESC"
	}
	order := col + " " + dir
	if col != "code" {
		order += ", code " + dir
	}
	rows, err := s.pool.Query(ctx, `SELECT `+linkCols+` FROM `+s.table+` ORDER BY `+order+` OFFSET $1 LIMIT $2`, q.Offset, q.Limit)
	if err != nil {
		return nil, 0, err
	}
	out := []Link{}
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			rows.Close()
			return nil, 0, err
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.table).Scan(&total); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

func (s *pgStore) Codes(ctx context.Context, fn func(string)) error {
	rows, err := s.pool.Query(ctx, `SELECT code FROM `+s.table)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return err
		}
		fn(c)
	}
	return rows.Err()
}

// Close does nothing: the pool belongs to the caller.
func (s *pgStore) Close() error { return nil }
