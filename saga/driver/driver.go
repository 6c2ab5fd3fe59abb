package driver

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrExists is returned by Log.Create when a saga with the same id is
	// already recorded.
	ErrExists = errors.New("saga: saga id already exists")
	// ErrNotFound is returned when no saga or transaction has the id.
	ErrNotFound = errors.New("saga: not found")
	// ErrFenced is returned by Log.Update when the stored fencing token is
	// newer than the writer's: another coordinator owns the saga now.
	ErrFenced = errors.New("saga: log write rejected: stale fencing token")
)

// State is the state of a saga as recorded in the log.
type State string

// Saga states. Completed and Compensated are terminal; Stuck waits for an
// operator (saga.Orchestrator.Retry or Abort).
const (
	Running      State = "running"
	Compensating State = "compensating"
	Completed    State = "completed"
	Compensated  State = "compensated"
	Stuck        State = "stuck"
)

// Terminal reports whether no coordinator will touch a saga in state s again.
func (s State) Terminal() bool { return s == Completed || s == Compensated }

// StepStatus is the recorded status of one step of a saga.
type StepStatus string

// Step statuses. A step is Started before its action is called, so a
// coordinator that crashes during the call knows the step may have run.
const (
	StepPending     StepStatus = ""
	StepStarted     StepStatus = "started"
	StepDone        StepStatus = "done"
	StepFailed      StepStatus = "failed"
	StepCompensated StepStatus = "compensated"
)

// Step is the recorded progress of one step.
type Step struct {
	Name   string     `json:"n"`
	Status StepStatus `json:"s,omitempty"`
	// Attempts is the number of failed attempts of the action (or of the
	// compensation once the saga compensates) recorded so far.
	Attempts int `json:"a,omitempty"`
	// CompAttempts is the number of failed attempts of the compensation.
	CompAttempts int `json:"c,omitempty"`
	// Error is the last error of the action or compensation.
	Error string `json:"e,omitempty"`
}

// Record is one saga as stored in the log.
type Record struct {
	// ID identifies the saga (unique in the log).
	ID string
	// Name is the name of the saga definition, used to find the code that
	// drives it after a restart.
	Name string
	// Data is the encoded saga data; it is written by Create only.
	Data []byte
	// State is the saga's state.
	State State
	// Steps is the progress of every step, in definition order.
	Steps []Step
	// Error is why the saga compensates or is stuck.
	Error string
	// Fence is the fencing token of the last writer.
	Fence int64
	// Created and Updated are set by the driver (engine time where the
	// engine has a clock).
	Created, Updated time.Time
}

// Filter selects records for Log.List. Zero fields select everything.
type Filter struct {
	// States, when non-empty, keeps records in one of these states.
	States []State
	// UpdatedBefore, when non-zero, keeps records last written before it.
	UpdatedBefore time.Time
	// After, when non-empty, keeps records whose id sorts after it (for
	// paging; List returns ids in ascending order).
	After string
	// Limit caps the number of records (0 means the driver's default, at
	// least 100).
	Limit int
}

// Log is the durable execution log of the saga orchestrator. It must be
// safe for concurrent use and, for shared engines, by many processes.
type Log interface {
	// Create stores a new record with rec.Fence as its fencing token. It
	// returns ErrExists if rec.ID is taken.
	Create(ctx context.Context, rec Record) error
	// Update replaces State, Steps and Error of the record rec.ID (never
	// Data or Name) if its stored fencing token is at most rec.Fence, and
	// stores rec.Fence. It returns ErrFenced if the stored token is
	// larger and ErrNotFound if there is no such record.
	Update(ctx context.Context, rec Record) error
	// Get returns the record id, or ErrNotFound.
	Get(ctx context.Context, id string) (Record, error)
	// List returns records matching f in ascending id order.
	List(ctx context.Context, f Filter) ([]Record, error)
}

// Decision is the outcome of a two-phase-commit transaction.
type Decision string

// Decisions. None means no decision is recorded (presumed abort).
const (
	None   Decision = ""
	Commit Decision = "commit"
	Abort  Decision = "abort"
)

// Tx is one two-phase-commit transaction as stored in the decision log.
type Tx struct {
	// ID identifies the transaction.
	ID string
	// Participants names the resources taking part, in prepare order.
	Participants []string
	// Decision is None until Decide.
	Decision Decision
	// Finished is set once phase two reached every participant.
	Finished bool
	// Created and Updated are set by the driver.
	Created, Updated time.Time
}

// TxFilter selects transactions for TxLog.List.
type TxFilter struct {
	// Unfinished keeps transactions not marked finished.
	Unfinished bool
	// UpdatedBefore, when non-zero, keeps transactions last written before it.
	UpdatedBefore time.Time
	// After and Limit page as in Filter.
	After string
	Limit int
}

// TxLog is the decision log of the two-phase-commit coordinator.
type TxLog interface {
	// Begin records a new transaction with no decision. It returns
	// ErrExists if tx.ID is taken.
	Begin(ctx context.Context, tx Tx) error
	// Decide records d for id unless a decision is already recorded, and
	// returns the recorded decision: d, or the earlier one. Because the
	// first decision wins, a coordinator committing and a sweeper
	// presuming abort can never both succeed. It returns ErrNotFound if
	// there is no such transaction and d is Commit; an Abort for an
	// unknown id is recorded (so that a late commit is refused).
	Decide(ctx context.Context, id string, d Decision) (Decision, error)
	// Finish marks id finished. Finishing an unknown id is not an error.
	Finish(ctx context.Context, id string) error
	// GetTx returns the transaction id, or ErrNotFound.
	GetTx(ctx context.Context, id string) (Tx, error)
	// ListTx returns transactions matching f in ascending id order.
	ListTx(ctx context.Context, f TxFilter) ([]Tx, error)
}

// DefaultLimit is the page size of List and ListTx when the filter has none.
const DefaultLimit = 100
