package lock

import (
	"fmt"
	"strings"
	"sync"
)

// Fence is an in-process fencing check for a resource that this process
// owns (a file, a connection to a device): it remembers the largest token
// it has admitted and refuses older ones. Writers call Admit with their
// lease's Token before each write, under the same mutual exclusion as the
// write itself (Fence.Do does both).
//
// The zero value is ready to use and admits any positive token. A Fence is
// safe for concurrent use.
type Fence struct {
	mu   sync.Mutex
	last int64
}

// Admit records token and returns nil if it is at least the largest token
// admitted so far; otherwise it returns an error wrapping ErrFenced and
// records nothing.
func (f *Fence) Admit(token int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.admitLocked(token)
}

func (f *Fence) admitLocked(token int64) error {
	if token < f.last {
		return fmt.Errorf("%w: token %d is older than %d", ErrFenced, token, f.last)
	}
	f.last = token
	return nil
}

// Do runs write if token is admitted, holding the fence's mutex so that no
// write with an older token can interleave. It returns the Admit error or
// write's error.
func (f *Fence) Do(token int64, write func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.admitLocked(token); err != nil {
		return err
	}
	return write()
}

// Last returns the largest token admitted so far (0 if none).
func (f *Fence) Last() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// SQLFence builds fenced UPDATE statements for a table whose rows carry the
// token of their last writer in a column: the row is written only if the
// writer's token is not older than the stored one, and the statement
// stores the writer's token. A row updated by nobody (0 rows affected)
// means the write was fenced off; Result turns that into ErrFenced.
//
// The statements use PostgreSQL placeholders: the token is $1, so the
// caller's own arguments start at $2. The zero value of a field means its
// default. An SQLFence is a value and safe for concurrent use.
type SQLFence struct {
	// Table is the table to update (required); it is inserted as given,
	// so quote it yourself if it needs quoting.
	Table string
	// Column is the fencing-token column (default "fence_token"), a
	// bigint NOT NULL DEFAULT 0.
	Column string
}

func (f SQLFence) column() string {
	if f.Column == "" {
		return "fence_token"
	}
	return f.Column
}

// Update returns "UPDATE <Table> SET <set>, <Column> = $1 WHERE (<where>)
// AND <Column> <= $1". set and where are SQL fragments whose placeholders
// start at $2. An empty Table, set or where is a programming error and
// returns an empty string.
func (f SQLFence) Update(set, where string) string {
	if strings.TrimSpace(f.Table) == "" || strings.TrimSpace(set) == "" || strings.TrimSpace(where) == "" {
		return ""
	}
	c := f.column()
	return "UPDATE " + f.Table + " SET " + set + ", " + c + " = $1 WHERE (" + where + ") AND " + c + " <= $1"
}

// Result interprets the outcome of a fenced statement: err if the
// statement failed, an error wrapping ErrFenced if it touched no row (the
// row is newer than token, or does not exist), and nil otherwise.
func (f SQLFence) Result(token, rowsAffected int64, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("lock: fenced update of %s: %w", f.Table, err)
	case rowsAffected == 0:
		return fmt.Errorf("%w: %s: no row with %s <= %d", ErrFenced, f.Table, f.column(), token)
	}
	return nil
}
