package pgshard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors of the migration executor.
var (
	// ErrNoPrimaryKey: a table to migrate has no primary key; rows could
	// not be matched between source and target, so it is refused up front.
	ErrNoPrimaryKey = errors.New("pgshard: table has no primary key")
	// ErrFenced: a newer executor holds the move (its fencing token is
	// higher); this one must stop.
	ErrFenced = errors.New("pgshard: fenced by a newer executor")
	// ErrVerify: source and target disagree after catch-up (row count or
	// checksum); the cut-over was not made.
	ErrVerify = errors.New("pgshard: verification failed")
	// ErrMoveInProgress: another move of the same logical shard, to a
	// different node, is unfinished.
	ErrMoveInProgress = errors.New("pgshard: another move of this shard is in progress")
	// ErrNotOwned: a write reached a node that does not own the logical
	// shard (SQLSTATE SK001). Writer retries it transparently.
	ErrNotOwned = errors.New("pgshard: logical shard not owned by this node")
)

// sqlStateNotOwned is raised by the guard trigger on writes to a logical
// shard the node does not own.
const sqlStateNotOwned = "SK001"

type tableInfo struct {
	name  string   // as given
	q     string   // quoted
	pk    []string // quoted pk columns
	cols  []string // quoted columns
	shard string   // quoted shard column
}

func quote(s string) string { return pgx.Identifier{s}.Sanitize() }

func (t *tableInfo) pkList(alias string) string {
	parts := make([]string, len(t.pk))
	for i, c := range t.pk {
		if alias != "" {
			parts[i] = alias + "." + c
		} else {
			parts[i] = c
		}
	}
	return strings.Join(parts, ", ")
}

// describe reads a table's primary key and columns on one node.
func describe(ctx context.Context, p *pgxpool.Pool, name, shardCol string) (*tableInfo, error) {
	t := &tableInfo{name: name, q: quote(name), shard: quote(shardCol)}
	rows, err := p.Query(ctx, `
SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = $1::regclass AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)`, t.q)
	if err != nil {
		return nil, fmt.Errorf("pgshard: describe %s: %w", name, err)
	}
	pk, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgshard: describe %s: %w", name, err)
	}
	if len(pk) == 0 {
		return nil, fmt.Errorf("pgshard: table %s: %w", name, ErrNoPrimaryKey)
	}
	rows, err = p.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, t.q)
	if err != nil {
		return nil, err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	hasShard := false
	for _, c := range cols {
		t.cols = append(t.cols, quote(c))
		hasShard = hasShard || c == shardCol
	}
	if !hasShard {
		return nil, fmt.Errorf("pgshard: table %s has no shard column %q", name, shardCol)
	}
	for _, c := range pk {
		t.pk = append(t.pk, quote(c))
	}
	return t, nil
}

// nodeSchema is the DDL installed on every node: the ownership table
// (which node owns which logical shard, whether its writes are captured,
// the fencing token of the last executor), the change log, and the guard
// trigger function. The guard runs BEFORE every row write of a migrated
// table: it takes a FOR SHARE lock on the shard's ownership row (so a
// cut-over's FOR UPDATE makes writers wait, not fail), refuses writes to a
// shard the node does not own (SQLSTATE SK001), and logs the row while a
// move captures the shard. The executor's own writes bypass it with the
// session setting scalekit.shard_migrator = 'on'.
func nodeSchema(prefix string) string {
	owner, changes := quote(prefix+"_owner"), quote(prefix+"_changes")
	return `
CREATE TABLE IF NOT EXISTS ` + owner + ` (
	unit      int PRIMARY KEY,
	owned     bool NOT NULL,
	capturing bool NOT NULL DEFAULT false,
	moved_to  text,
	fence     bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ` + changes + ` (
	seq  bigserial PRIMARY KEY,
	unit int NOT NULL,
	tbl  text NOT NULL,
	row  jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS ` + quote(prefix+"_changes_unit") + ` ON ` + changes + ` (unit, seq);
CREATE OR REPLACE FUNCTION ` + quote(prefix+"_guard") + `() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
	u int;
	o record;
	r jsonb;
BEGIN
	IF current_setting('scalekit.shard_migrator', true) = 'on' THEN
		IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
		RETURN NEW;
	END IF;
	IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF;
	u := (r ->> TG_ARGV[0])::int;
	IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) ->> TG_ARGV[0]) IS DISTINCT FROM (r ->> TG_ARGV[0]) THEN
		RAISE EXCEPTION 'scalekit shard: a row cannot change logical shard' USING ERRCODE = 'SK002';
	END IF;
	SELECT owned, capturing INTO o FROM ` + owner + ` WHERE unit = u FOR SHARE;
	IF NOT FOUND OR NOT o.owned THEN
		RAISE EXCEPTION 'scalekit shard: logical shard % not owned by this node', u USING ERRCODE = '` + sqlStateNotOwned + `';
	END IF;
	IF o.capturing THEN
		IF TG_OP = 'UPDATE' THEN
			INSERT INTO ` + changes + ` (unit, tbl, row) VALUES (u, TG_TABLE_NAME, to_jsonb(OLD));
		END IF;
		INSERT INTO ` + changes + ` (unit, tbl, row) VALUES (u, TG_TABLE_NAME, r);
	END IF;
	IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
	RETURN NEW;
END
$fn$;`
}

func triggerDDL(prefix string, t *tableInfo, shardCol string) string {
	return `CREATE TRIGGER ` + quote(prefix+"_guard") + ` BEFORE INSERT OR UPDATE OR DELETE ON ` + t.q +
		` FOR EACH ROW EXECUTE FUNCTION ` + quote(prefix+"_guard") + `(` + quoteLiteral(shardCol) + `)`
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func controlSchema(prefix string) string {
	return `
CREATE TABLE IF NOT EXISTS ` + quote(prefix+"_moves") + ` (
	map_name text NOT NULL,
	unit     int NOT NULL,
	src      text NOT NULL,
	dst      text NOT NULL,
	state    text NOT NULL,
	fence    bigint NOT NULL,
	PRIMARY KEY (map_name, unit)
)`
}
