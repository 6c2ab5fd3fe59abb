package pgsaga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scalekit-go/scalekit/saga/driver"
)

// Default table names.
const (
	DefaultSagaTable = "scalekit_sagas"
	DefaultTxTable   = "scalekit_saga_txs"
)

// Options configures a Log. A nil *Options means the defaults.
type Options struct {
	// SagaTable and TxTable name the saga log and the 2PC decision log,
	// optionally schema-qualified (defaults DefaultSagaTable and
	// DefaultTxTable).
	SagaTable, TxTable string
}

// Log is a driver.Log and driver.TxLog on PostgreSQL. Each method is one
// statement (one round trip); Update and Decide take a second, read-only
// one only when the first touched no row, to tell why.
//
// A Log is safe for concurrent use if its DB is.
type Log struct {
	db    DB
	sagas string
	txs   string
	index string
	key   string
}

var (
	_ driver.Log   = (*Log)(nil)
	_ driver.TxLog = (*Log)(nil)
)

// New returns a Log on db. It does no I/O; create the tables with
// CreateSchema (Open does both).
func New(db DB, opts *Options) (*Log, error) {
	if db == nil {
		return nil, errors.New("pgsaga: nil DB")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.SagaTable == "" {
		o.SagaTable = DefaultSagaTable
	}
	if o.TxTable == "" {
		o.TxTable = DefaultTxTable
	}
	sagas, err := quoteName(o.SagaTable)
	if err != nil {
		return nil, err
	}
	txs, err := quoteName(o.TxTable)
	if err != nil {
		return nil, err
	}
	base := o.SagaTable[strings.LastIndexByte(o.SagaTable, '.')+1:]
	return &Log{db: db, sagas: sagas, txs: txs, index: pgx.Identifier{base + "_active"}.Sanitize(),
		key: "scalekit/pgsaga/schema:" + o.SagaTable}, nil
}

// Open is New followed by CreateSchema.
func Open(ctx context.Context, db DB, opts *Options) (*Log, error) {
	l, err := New(db, opts)
	if err != nil {
		return nil, err
	}
	if err := l.CreateSchema(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// CreateSchema creates the saga table (id, name, state, data, steps as
// jsonb, error, fence, created_at, updated_at), a partial index on the
// unfinished sagas, and the decision table (id, participants, decision,
// finished, created_at, updated_at), if they do not exist. It runs under
// a transaction-level advisory lock and is safe to call from many
// processes at once.
func (l *Log) CreateSchema(ctx context.Context) error {
	return createSchema(ctx, l.db, l.key, logSchema(l.sagas, l.txs, l.index))
}

// Create implements driver.Log.
func (l *Log) Create(ctx context.Context, rec driver.Record) error {
	steps, err := json.Marshal(rec.Steps)
	if err != nil {
		return err
	}
	tag, err := l.db.Exec(ctx, `INSERT INTO `+l.sagas+` (id, name, state, data, steps, error, fence)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) ON CONFLICT (id) DO NOTHING`,
		rec.ID, rec.Name, string(rec.State), rec.Data, string(steps), rec.Error, rec.Fence)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return driver.ErrExists
	}
	return nil
}

// Update implements driver.Log: one fenced UPDATE.
func (l *Log) Update(ctx context.Context, rec driver.Record) error {
	steps, err := json.Marshal(rec.Steps)
	if err != nil {
		return err
	}
	tag, err := l.db.Exec(ctx, `UPDATE `+l.sagas+` SET state = $2, steps = $3::jsonb, error = $4, fence = $5, updated_at = now()
WHERE id = $1 AND fence <= $5`, rec.ID, string(rec.State), string(steps), rec.Error, rec.Fence)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var fence int64
	err = l.db.QueryRow(ctx, `SELECT fence FROM `+l.sagas+` WHERE id = $1`, rec.ID).Scan(&fence)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return driver.ErrNotFound
	case err != nil:
		return err
	}
	return fmt.Errorf("%w (stored %d, writer %d)", driver.ErrFenced, fence, rec.Fence)
}

const sagaCols = `id, name, state, data, steps, error, fence, created_at, updated_at`

func scanSaga(row pgx.Row) (driver.Record, error) {
	var r driver.Record
	var state string
	var steps []byte
	if err := row.Scan(&r.ID, &r.Name, &state, &r.Data, &steps, &r.Error, &r.Fence, &r.Created, &r.Updated); err != nil {
		return driver.Record{}, err
	}
	r.State = driver.State(state)
	if err := json.Unmarshal(steps, &r.Steps); err != nil {
		return driver.Record{}, fmt.Errorf("pgsaga: saga %q: decode steps: %w", r.ID, err)
	}
	return r, nil
}

// Get implements driver.Log.
func (l *Log) Get(ctx context.Context, id string) (driver.Record, error) {
	r, err := scanSaga(l.db.QueryRow(ctx, `SELECT `+sagaCols+` FROM `+l.sagas+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return driver.Record{}, driver.ErrNotFound
	}
	return r, err
}

func limit(n int) int {
	if n <= 0 {
		return driver.DefaultLimit
	}
	return n
}

func before(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// List implements driver.Log.
func (l *Log) List(ctx context.Context, f driver.Filter) ([]driver.Record, error) {
	var states []string
	for _, s := range f.States {
		states = append(states, string(s))
	}
	rows, err := l.db.Query(ctx, `SELECT `+sagaCols+` FROM `+l.sagas+`
WHERE ($1::text[] IS NULL OR state = ANY($1)) AND ($2::timestamptz IS NULL OR updated_at < $2) AND id > $3
ORDER BY id LIMIT $4`, states, before(f.UpdatedBefore), f.After, limit(f.Limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []driver.Record
	for rows.Next() {
		r, err := scanSaga(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
