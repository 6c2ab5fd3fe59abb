package memsaga

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/saga/driver"
)

// Options configures a Log. A nil *Options means the defaults.
type Options struct {
	// Clock stamps Created and Updated (default real time).
	Clock clock.Clock
}

// Log is an in-memory driver.Log and driver.TxLog. It counts the writes it
// receives (Writes), which tests and benchmarks use to check how many log
// writes a saga costs.
//
// A Log is safe for concurrent use. The zero value is not usable; call New.
type Log struct {
	clk clock.Clock

	mu     sync.Mutex
	sagas  map[string]driver.Record
	txs    map[string]driver.Tx
	writes int64
	fail   []error
}

var (
	_ driver.Log   = (*Log)(nil)
	_ driver.TxLog = (*Log)(nil)
)

// New returns an empty Log.
func New(opts *Options) *Log {
	var o Options
	if opts != nil {
		o = *opts
	}
	return &Log{clk: clock.Or(o.Clock), sagas: map[string]driver.Record{}, txs: map[string]driver.Tx{}}
}

// Writes returns the number of successful writes (Create, Update, Begin,
// Decide, Finish) so far.
func (l *Log) Writes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes
}

// FailNext makes the next len(errs) calls return errs, in order (fault
// injection for tests).
func (l *Log) FailNext(errs ...error) {
	l.mu.Lock()
	l.fail = append(l.fail, errs...)
	l.mu.Unlock()
}

// enter begins an operation: it fails with ctx's error or the next
// injected fault (the lock is then not held), or returns with l.mu held.
func (l *Log) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	if len(l.fail) > 0 {
		err := l.fail[0]
		l.fail = l.fail[1:]
		l.mu.Unlock()
		return err
	}
	return nil
}

func clone(r driver.Record) driver.Record {
	r.Steps = slices.Clone(r.Steps)
	r.Data = slices.Clone(r.Data)
	return r
}

// Create implements driver.Log.
func (l *Log) Create(ctx context.Context, rec driver.Record) error {
	if err := l.enter(ctx); err != nil {
		return err
	}
	defer l.mu.Unlock()
	if _, ok := l.sagas[rec.ID]; ok {
		return driver.ErrExists
	}
	now := l.clk.Now()
	rec = clone(rec)
	rec.Created, rec.Updated = now, now
	l.sagas[rec.ID] = rec
	l.writes++
	return nil
}

// Update implements driver.Log.
func (l *Log) Update(ctx context.Context, rec driver.Record) error {
	if err := l.enter(ctx); err != nil {
		return err
	}
	defer l.mu.Unlock()
	cur, ok := l.sagas[rec.ID]
	if !ok {
		return driver.ErrNotFound
	}
	if cur.Fence > rec.Fence {
		return driver.ErrFenced
	}
	cur.State, cur.Steps, cur.Error, cur.Fence = rec.State, slices.Clone(rec.Steps), rec.Error, rec.Fence
	cur.Updated = l.clk.Now()
	l.sagas[rec.ID] = cur
	l.writes++
	return nil
}

// Get implements driver.Log.
func (l *Log) Get(ctx context.Context, id string) (driver.Record, error) {
	if err := l.enter(ctx); err != nil {
		return driver.Record{}, err
	}
	defer l.mu.Unlock()
	r, ok := l.sagas[id]
	if !ok {
		return driver.Record{}, driver.ErrNotFound
	}
	return clone(r), nil
}

// List implements driver.Log.
func (l *Log) List(ctx context.Context, f driver.Filter) ([]driver.Record, error) {
	if err := l.enter(ctx); err != nil {
		return nil, err
	}
	defer l.mu.Unlock()
	var out []driver.Record
	for _, r := range l.sagas {
		if len(f.States) > 0 && !slices.Contains(f.States, r.State) {
			continue
		}
		if !f.UpdatedBefore.IsZero() && !r.Updated.Before(f.UpdatedBefore) {
			continue
		}
		if f.After != "" && r.ID <= f.After {
			continue
		}
		out = append(out, clone(r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out[:min(len(out), limit(f.Limit))], nil
}

func limit(n int) int {
	if n <= 0 {
		return driver.DefaultLimit
	}
	return n
}

// Begin implements driver.TxLog.
func (l *Log) Begin(ctx context.Context, tx driver.Tx) error {
	if err := l.enter(ctx); err != nil {
		return err
	}
	defer l.mu.Unlock()
	if _, ok := l.txs[tx.ID]; ok {
		return driver.ErrExists
	}
	now := l.clk.Now()
	tx.Participants = slices.Clone(tx.Participants)
	tx.Decision, tx.Finished = driver.None, false
	tx.Created, tx.Updated = now, now
	l.txs[tx.ID] = tx
	l.writes++
	return nil
}

// Decide implements driver.TxLog.
func (l *Log) Decide(ctx context.Context, id string, d driver.Decision) (driver.Decision, error) {
	if err := l.enter(ctx); err != nil {
		return driver.None, err
	}
	defer l.mu.Unlock()
	tx, ok := l.txs[id]
	if !ok {
		if d == driver.Commit {
			return driver.None, driver.ErrNotFound
		}
		now := l.clk.Now()
		tx = driver.Tx{ID: id, Created: now}
	}
	if tx.Decision != driver.None {
		return tx.Decision, nil
	}
	tx.Decision = d
	tx.Updated = l.clk.Now()
	l.txs[id] = tx
	l.writes++
	return d, nil
}

// Finish implements driver.TxLog.
func (l *Log) Finish(ctx context.Context, id string) error {
	if err := l.enter(ctx); err != nil {
		return err
	}
	defer l.mu.Unlock()
	tx, ok := l.txs[id]
	if !ok {
		return nil
	}
	tx.Finished = true
	tx.Updated = l.clk.Now()
	l.txs[id] = tx
	l.writes++
	return nil
}

// GetTx implements driver.TxLog.
func (l *Log) GetTx(ctx context.Context, id string) (driver.Tx, error) {
	if err := l.enter(ctx); err != nil {
		return driver.Tx{}, err
	}
	defer l.mu.Unlock()
	tx, ok := l.txs[id]
	if !ok {
		return driver.Tx{}, driver.ErrNotFound
	}
	tx.Participants = slices.Clone(tx.Participants)
	return tx, nil
}

// ListTx implements driver.TxLog.
func (l *Log) ListTx(ctx context.Context, f driver.TxFilter) ([]driver.Tx, error) {
	if err := l.enter(ctx); err != nil {
		return nil, err
	}
	defer l.mu.Unlock()
	var out []driver.Tx
	for _, tx := range l.txs {
		if f.Unfinished && tx.Finished {
			continue
		}
		if !f.UpdatedBefore.IsZero() && !tx.Updated.Before(f.UpdatedBefore) {
			continue
		}
		if f.After != "" && tx.ID <= f.After {
			continue
		}
		tx.Participants = slices.Clone(tx.Participants)
		out = append(out, tx)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out[:min(len(out), limit(f.Limit))], nil
}
