package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/saga/driver"
)

// State is the state of a saga; see the constants of package driver
// (re-exported here).
type State = driver.State

// Saga states.
const (
	Running      = driver.Running
	Compensating = driver.Compensating
	Completed    = driver.Completed
	Compensated  = driver.Compensated
	Stuck        = driver.Stuck
)

// Status is a saga as recorded in the log: its state, the progress of
// every step and the last error.
type Status = driver.Record

// AlertKind says what an Alert is about.
type AlertKind string

// Alert kinds.
const (
	// AlertCompensationFailed: an attempt of a compensation failed; it
	// will be retried (Alert.Attempt of Alert.MaxAttempts).
	AlertCompensationFailed AlertKind = "compensation_failed"
	// AlertStuck: a compensation exhausted its attempts; the saga is
	// stuck until an operator calls Retry or Abort.
	AlertStuck AlertKind = "stuck"
	// AlertUnknownSaga: recovery found a saga whose definition is not
	// registered with this orchestrator.
	AlertUnknownSaga AlertKind = "unknown_saga"
	// AlertLeaseLost: this orchestrator lost ownership of a saga while
	// driving it and stopped.
	AlertLeaseLost AlertKind = "lease_lost"
)

// Alert is passed to Options.OnAlert.
type Alert struct {
	Kind        AlertKind
	SagaID      string
	Saga        string // definition name
	Step        string
	Attempt     int
	MaxAttempts int
	Err         error
}

// Options configures an Orchestrator. A nil *Options means the defaults.
type Options struct {
	// Name is the scalekit.name attribute of spans and metrics (default "saga").
	Name string
	// LockPrefix is prepended to saga ids to form lock keys (default "saga/").
	LockPrefix string
	// OnAlert, when set, is called (synchronously, keep it short) when a
	// compensation fails, a saga gets stuck, or ownership is lost.
	OnAlert func(Alert)
	// RecoveryConcurrency caps the sagas one Recover pass drives at
	// once (default 4).
	RecoveryConcurrency int
	// Clock is used for backoff waits (default real time).
	Clock clock.Clock
	// TracerProvider and MeterProvider default to the global providers.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Orchestrator runs sagas: it records each one in a durable Log, drives
// it forward or compensates it, and resumes sagas left unfinished by a
// crashed instance. Any number of orchestrators (in any number of
// processes) may share one log and one lock backend: a saga is driven by
// whichever holds its lock lease, and every log write carries the lease's
// fencing token, so an instance that lost its lease cannot overwrite the
// new owner's progress.
//
// Each saga takes one lock key (LockPrefix + id). Backends that keep a
// row per key (pglock) keep one per saga; see the package README for
// pruning them.
//
// An Orchestrator is safe for concurrent use. The zero value is not
// usable; call New.
type Orchestrator struct {
	log  driver.Log
	lk   *lock.Locker
	opts Options
	clk  clock.Clock

	mu   sync.RWMutex
	defs map[string]*def

	tracer   trace.Tracer
	attrs    attribute.Set
	finished metric.Int64Counter
	failures metric.Int64Counter
	duration metric.Float64Histogram
}

// New returns an Orchestrator over log that takes ownership of sagas
// through locker. It does no I/O.
func New(log driver.Log, locker *lock.Locker, opts *Options) (*Orchestrator, error) {
	if log == nil {
		return nil, invalid("New with a nil log")
	}
	if locker == nil {
		return nil, invalid("New with a nil locker")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.RecoveryConcurrency < 0 {
		return nil, invalid("negative RecoveryConcurrency")
	}
	if o.RecoveryConcurrency == 0 {
		o.RecoveryConcurrency = 4
	}
	if o.Name == "" {
		o.Name = "saga"
	}
	if o.LockPrefix == "" {
		o.LockPrefix = "saga/"
	}
	or := &Orchestrator{log: log, lk: locker, opts: o, clk: clock.Or(o.Clock), defs: map[string]*def{}}
	or.attrs = attribute.NewSet(attribute.String("scalekit.name", o.Name))
	or.tracer = otelx.Tracer(o.TracerProvider, "saga")
	m := otelx.Meter(o.MeterProvider, "saga")
	or.finished = otelx.Must(m.Int64Counter("scalekit.saga.finished", metric.WithUnit("{saga}"),
		metric.WithDescription("Sagas driven to a rest state, by scalekit.saga.state (completed, compensated, stuck)")))
	or.failures = otelx.Must(m.Int64Counter("scalekit.saga.step.failures", metric.WithUnit("{attempt}"),
		metric.WithDescription("Failed attempts of actions and compensations, by scalekit.saga.op")))
	or.duration = otelx.Must(m.Float64Histogram("scalekit.saga.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from the start of a drive to its rest state")))
	return or, nil
}

// Saga is a saga definition registered with an Orchestrator, over saga
// data of type T (encoded as JSON in the log). It is safe for concurrent
// use.
type Saga[T any] struct {
	o *Orchestrator
	d *def
}

// Register validates steps and registers them under name with o. Every
// orchestrator that may resume the saga after a crash must register the
// same definition under the same name. It returns a clear error for an
// empty saga (ErrEmpty), duplicate step names (ErrDuplicateStep), a nil
// Action (ErrNilAction), an unknown or cyclic After (ErrUnknownDependency,
// ErrCycle), or a name already registered (ErrInvalid).
func Register[T any](o *Orchestrator, name string, steps []Step[T]) (*Saga[T], error) {
	if o == nil {
		return nil, invalid("Register with a nil Orchestrator")
	}
	d, err := compile(name, steps)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.defs[name]; dup {
		return nil, invalid("saga %q is already registered", name)
	}
	o.defs[name] = d
	return &Saga[T]{o: o, d: d}, nil
}

// Name returns the name the saga was registered under.
func (s *Saga[T]) Name() string { return s.d.name }

// Run starts the saga id with data and drives it to a rest state in the
// calling goroutine. It returns nil when the saga completed; an error
// wrapping ErrCompensated (and the failed step's error) when it failed and
// was fully compensated; ErrStuck when a compensation keeps failing;
// ErrExists if id was started before (see Orchestrator.Status); and
// ErrLeaseLost if another orchestrator took the saga over meanwhile.
//
// If ctx ends while a step runs, Run returns ctx.Err() and leaves the saga
// to the recovery loop of any orchestrator (see Recover).
func (s *Saga[T]) Run(ctx context.Context, id string, data T) error {
	if id == "" {
		return invalid("empty saga id")
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("saga %q: encode data: %w", s.d.name, err)
	}
	act, comp, err := s.d.bind(raw)
	if err != nil {
		return err
	}
	lease, err := s.o.lk.TryAcquire(ctx, s.o.opts.LockPrefix+id, nil)
	if err != nil {
		if errors.Is(err, lock.ErrLocked) {
			return fmt.Errorf("%w: saga %q", ErrExists, id)
		}
		return fmt.Errorf("saga: start %q: %w", id, err)
	}
	defer s.o.release(lease)
	rec := driver.Record{ID: id, Name: s.d.name, Data: raw, State: driver.Running,
		Steps: make([]driver.Step, len(s.d.steps)), Fence: lease.Token()}
	for i, sp := range s.d.steps {
		rec.Steps[i].Name = sp.name
	}
	for _, i := range s.d.roots {
		rec.Steps[i].Status = driver.StepStarted
	}
	if err := s.o.log.Create(ctx, rec); err != nil {
		if errors.Is(err, driver.ErrExists) {
			return fmt.Errorf("%w: saga %q", ErrExists, id)
		}
		return fmt.Errorf("saga: create %q: %w", id, err)
	}
	return s.o.drive(ctx, s.d, rec, act, comp, lease, "saga.Run")
}

// release ends a lease after a drive; errors do not matter (the lease
// expires by itself).
func (o *Orchestrator) release(l *lock.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.Release(ctx)
}

func (o *Orchestrator) def(name string) (*def, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	d, ok := o.defs[name]
	return d, ok
}

func (o *Orchestrator) alert(a Alert) {
	if o.opts.OnAlert != nil {
		o.opts.OnAlert(a)
	}
}

// Status returns the saga id as recorded in the log, or ErrNotFound.
func (o *Orchestrator) Status(ctx context.Context, id string) (Status, error) {
	if id == "" {
		return Status{}, invalid("empty saga id")
	}
	rec, err := o.log.Get(ctx, id)
	if err != nil {
		return Status{}, opErr(ctx, "status", id, err)
	}
	return rec, nil
}

// opErr wraps a log error with the operation and saga id, except that a
// context error caused by ctx is returned unwrapped.
func opErr(ctx context.Context, op, id string, err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return cerr
	}
	return fmt.Errorf("saga: %s %q: %w", op, id, err)
}
