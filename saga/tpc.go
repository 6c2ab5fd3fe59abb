package saga

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/backoff"
	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/saga/driver"
)

var (
	// ErrAborted is returned by Coordinator.Do when the transaction was
	// aborted (a participant failed or timed out in prepare, or a
	// recovery presumed abort first); it wraps the cause.
	ErrAborted = errors.New("saga: transaction aborted")
	// ErrInDoubt is returned by Coordinator.Do when the commit decision
	// is recorded but phase two did not reach every participant within
	// its retries; the transaction WILL commit: Recover finishes it.
	ErrInDoubt = errors.New("saga: committed, phase two incomplete")
)

// Resolver finishes a participant's branch of a transaction knowing only
// the transaction id, as recovery after a crash must. Commit of a branch
// already committed and Abort of a branch never prepared (or already
// aborted) return nil.
type Resolver interface {
	Commit(ctx context.Context, txid string) error
	Abort(ctx context.Context, txid string) error
}

// Participant takes part in a two-phase-commit transaction. Name names the
// resource; a Resolver for it must be registered (Coordinator.Register)
// with every coordinator that may recover the transaction.
type Participant interface {
	Resolver
	Name() string
	// Prepare does the branch's work and promises to commit it on
	// request: after Prepare returns nil the branch survives crashes and
	// can only be finished by Commit or Abort.
	Prepare(ctx context.Context, txid string) error
}

// TCC is a try/confirm/cancel participant: Try reserves (Prepare),
// Confirm applies the reservation (Commit), Cancel releases it (Abort).
// Confirm and Cancel must be idempotent, Cancel must accept a Try that
// never ran, and a Try arriving after its Cancel must do nothing —
// pgsaga.Barrier with OpAction/OpConfirm/OpCompensate gives exactly these
// guarantees. Register the TCC (Try may be nil there) for recovery.
type TCC struct {
	// Resource names the participant (required).
	Resource string
	// Try, Confirm and Cancel get the transaction id as their
	// idempotency key.
	Try, Confirm, Cancel func(ctx context.Context, txid string) error
}

// Name implements Participant.
func (t TCC) Name() string { return t.Resource }

// Prepare implements Participant by calling Try.
func (t TCC) Prepare(ctx context.Context, txid string) error {
	if t.Try == nil {
		return Permanent(invalid("TCC %q has no Try", t.Resource))
	}
	return t.Try(ctx, txid)
}

// Commit implements Resolver by calling Confirm.
func (t TCC) Commit(ctx context.Context, txid string) error {
	if t.Confirm == nil {
		return Permanent(invalid("TCC %q has no Confirm", t.Resource))
	}
	return t.Confirm(ctx, txid)
}

// Abort implements Resolver by calling Cancel.
func (t TCC) Abort(ctx context.Context, txid string) error {
	if t.Cancel == nil {
		return Permanent(invalid("TCC %q has no Cancel", t.Resource))
	}
	return t.Cancel(ctx, txid)
}

// CoordinatorOptions configures a Coordinator. A nil *CoordinatorOptions
// means the defaults; a zero field means its default.
type CoordinatorOptions struct {
	// Name is the scalekit.name attribute (default "saga").
	Name string
	// PrepareTimeout bounds the whole prepare phase; a participant that
	// has not prepared by then aborts the transaction (default 10s).
	PrepareTimeout time.Duration
	// CallTimeout bounds one Commit or Abort call (default 10s).
	CallTimeout time.Duration
	// Retry bounds the attempts of each phase-two call within Do or one
	// Recover pass (default 5 attempts, 50ms–2s backoff); what is left
	// is retried by the next Recover pass.
	Retry Retry
	// RecoverAfter is how old an unfinished transaction must be before
	// Recover touches it (default 2×PrepareTimeout): younger ones may
	// still be driven by their coordinator.
	RecoverAfter time.Duration
	// OnAlert, when set, is told about phase-two calls that keep
	// failing and unknown participants.
	OnAlert func(Alert)
	// Clock is used for backoff and ages (default real time).
	Clock clock.Clock
	// TracerProvider and MeterProvider default to the global providers.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Alert kinds of the coordinator.
const (
	// AlertPhaseTwoFailed: a Commit or Abort call exhausted its retries;
	// the transaction stays in doubt until a later Recover.
	AlertPhaseTwoFailed AlertKind = "phase_two_failed"
	// AlertUnknownParticipant: recovery found a participant with no
	// registered Resolver.
	AlertUnknownParticipant AlertKind = "unknown_participant"
)

// Coordinator runs two-phase-commit (and TCC) transactions with presumed
// abort: it records the transaction's participants (one log write),
// prepares them all, records the commit decision (one write) before
// phase two, and marks the transaction finished (one write). A
// transaction without a recorded commit decision is aborted by whoever
// looks at it after a crash; the log's first-decision-wins rule makes a
// late commit and a presumed abort exclusive. No log write or database
// transaction of the coordinator is open across a participant call.
//
// A Coordinator is safe for concurrent use; any number of coordinators
// may share one log and recover each other's transactions (phase-two
// calls are idempotent).
type Coordinator struct {
	log  driver.TxLog
	opts CoordinatorOptions
	clk  clock.Clock

	mu  sync.RWMutex
	res map[string]Resolver

	tracer  trace.Tracer
	attrs   attribute.Set
	outcome metric.Int64Counter
}

// NewCoordinator returns a Coordinator over log. It does no I/O.
func NewCoordinator(log driver.TxLog, opts *CoordinatorOptions) (*Coordinator, error) {
	if log == nil {
		return nil, invalid("NewCoordinator with a nil log")
	}
	var o CoordinatorOptions
	if opts != nil {
		o = *opts
	}
	if o.PrepareTimeout < 0 || o.CallTimeout < 0 || o.RecoverAfter < 0 {
		return nil, invalid("negative duration in CoordinatorOptions")
	}
	if o.Name == "" {
		o.Name = "saga"
	}
	if o.PrepareTimeout == 0 {
		o.PrepareTimeout = 10 * time.Second
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.RecoverAfter == 0 {
		o.RecoverAfter = 2 * o.PrepareTimeout
	}
	if o.Retry.Initial == 0 {
		o.Retry.Initial = 50 * time.Millisecond
	}
	if o.Retry.Max == 0 {
		o.Retry.Max = 2 * time.Second
	}
	r, err := o.Retry.resolve(5)
	if err != nil {
		return nil, err
	}
	o.Retry = r
	c := &Coordinator{log: log, opts: o, clk: clock.Or(o.Clock), res: map[string]Resolver{}}
	c.attrs = attribute.NewSet(attribute.String("scalekit.name", o.Name))
	c.tracer = otelx.Tracer(o.TracerProvider, "saga")
	m := otelx.Meter(o.MeterProvider, "saga")
	c.outcome = otelx.Must(m.Int64Counter("scalekit.saga.tx.outcomes", metric.WithUnit("{transaction}"),
		metric.WithDescription("Two-phase-commit transactions by scalekit.saga.decision (commit, abort)")))
	return c, nil
}

// Register makes r the Resolver of the participants named name, used by
// Recover to finish their branches after a crash.
func (c *Coordinator) Register(name string, r Resolver) error {
	if name == "" || r == nil {
		return invalid("Register needs a name and a Resolver")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res[name] = r
	return nil
}

func (c *Coordinator) resolver(name string) (Resolver, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.res[name]
	return r, ok
}

// Do runs transaction txid over parts: prepare all (in parallel, within
// PrepareTimeout), then commit all if every one prepared, else abort all.
// It returns nil when committed; an error wrapping ErrAborted (and the
// cause) when aborted; ErrInDoubt when the commit is decided but not
// every participant has acknowledged it yet (Recover finishes it);
// ErrExists for a reused txid. A participant whose name has no Resolver
// yet is registered as its name's Resolver, so Commit and Abort must work
// from the transaction id alone (as recovery needs anyway), never from
// state captured for one transaction.
func (c *Coordinator) Do(ctx context.Context, txid string, parts ...Participant) (err error) {
	if txid == "" {
		return invalid("empty transaction id")
	}
	if len(parts) == 0 {
		return invalid("transaction %q has no participants", txid)
	}
	names := make([]string, len(parts))
	seen := map[string]bool{}
	for i, p := range parts {
		if p == nil || p.Name() == "" {
			return invalid("transaction %q: participant %d is nil or unnamed", txid, i)
		}
		if seen[p.Name()] {
			return invalid("transaction %q: participant %q appears twice", txid, p.Name())
		}
		seen[p.Name()], names[i] = true, p.Name()
		if _, ok := c.resolver(p.Name()); !ok {
			_ = c.Register(p.Name(), p)
		}
	}
	ctx, span := otelx.Start(ctx, c.tracer, "saga.Transaction", attribute.String("scalekit.name", c.opts.Name),
		attribute.String("scalekit.saga.tx", txid))
	defer func() { otelx.End(span, err) }()
	if err := c.log.Begin(ctx, driver.Tx{ID: txid, Participants: names}); err != nil {
		return opErr(ctx, "begin", txid, err)
	}
	cause := c.prepare(ctx, txid, parts)
	if cause == nil {
		d, err := c.log.Decide(ctx, txid, driver.Commit)
		if err != nil {
			// Unknown outcome of the decision write: leave it to recovery,
			// which will find either the commit or no decision.
			return fmt.Errorf("%w: transaction %q: decision write: %w", ErrInDoubt, txid, err)
		}
		if d == driver.Commit {
			c.outcome.Add(context.Background(), 1, metric.WithAttributeSet(c.attrs), decAttr(d))
			return c.finish(ctx, txid, names, driver.Commit)
		}
		cause = errors.New("a recovery presumed abort first")
	}
	c.outcome.Add(context.Background(), 1, metric.WithAttributeSet(c.attrs), decAttr(driver.Abort))
	if err := c.finish(context.WithoutCancel(ctx), txid, names, driver.Abort); err != nil {
		return fmt.Errorf("%w: transaction %q: %w (and: %w)", ErrAborted, txid, cause, err)
	}
	return fmt.Errorf("%w: transaction %q: %w", ErrAborted, txid, cause)
}

func decAttr(d driver.Decision) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("scalekit.saga.decision", string(d)))
}

// prepare prepares every participant in parallel and returns the first
// failure (a timeout counts).
func (c *Coordinator) prepare(ctx context.Context, txid string, parts []Participant) error {
	pctx, cancel := context.WithTimeout(ctx, c.opts.PrepareTimeout)
	defer cancel()
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, span := otelx.Start(pctx, c.tracer, "saga.Prepare", attribute.String("scalekit.name", c.opts.Name),
				attribute.String("scalekit.saga.participant", p.Name()))
			err := callTimeout(sctx, c.opts.PrepareTimeout, func(ctx context.Context, _ Call) error { return p.Prepare(ctx, txid) },
				Call{SagaID: txid, Step: p.Name(), Attempt: 1})
			otelx.End(span, err)
			if err != nil {
				errs[i] = fmt.Errorf("prepare %q: %w", p.Name(), err)
				cancel() // no point in waiting for the others
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// finish runs phase two (d) on every named participant and marks the
// transaction finished once all acknowledged.
func (c *Coordinator) finish(ctx context.Context, txid string, names []string, d driver.Decision) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		r, ok := c.resolver(name)
		if !ok {
			c.alert(Alert{Kind: AlertUnknownParticipant, SagaID: txid, Step: name})
			errs[i] = fmt.Errorf("%w: participant %q of transaction %q has no resolver", ErrInvalid, name, txid)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.phaseTwo(ctx, txid, name, r, d)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if d == driver.Commit {
			return fmt.Errorf("%w: transaction %q: %w", ErrInDoubt, txid, err)
		}
		return err
	}
	if err := c.log.Finish(ctx, txid); err != nil {
		return opErr(ctx, "finish", txid, err)
	}
	return nil
}

// phaseTwo calls Commit or Abort on r with bounded retries.
func (c *Coordinator) phaseTwo(ctx context.Context, txid, name string, r Resolver, d driver.Decision) error {
	fn := r.Abort
	if d == driver.Commit {
		fn = r.Commit
	}
	attempt := 0
	err := backoff.Retry(ctx, backoff.Policy{Initial: c.opts.Retry.Initial, Max: c.opts.Retry.Max, MaxAttempts: c.opts.Retry.MaxAttempts}, c.clk,
		func(ctx context.Context) error {
			attempt++
			sctx, span := otelx.Start(ctx, c.tracer, "saga."+map[driver.Decision]string{driver.Commit: "Commit", driver.Abort: "Abort"}[d],
				attribute.String("scalekit.name", c.opts.Name), attribute.String("scalekit.saga.participant", name))
			err := callTimeout(sctx, c.opts.CallTimeout, func(ctx context.Context, _ Call) error { return fn(ctx, txid) },
				Call{SagaID: txid, Step: name, Attempt: attempt})
			otelx.End(span, err)
			if IsPermanent(err) {
				return backoff.Permanent(err)
			}
			return err
		})
	if err != nil {
		c.alert(Alert{Kind: AlertPhaseTwoFailed, SagaID: txid, Step: name, Attempt: attempt, MaxAttempts: c.opts.Retry.MaxAttempts, Err: err})
		return fmt.Errorf("%s %q: %w", d, name, err)
	}
	return nil
}

func (c *Coordinator) alert(a Alert) {
	if c.opts.OnAlert != nil {
		c.opts.OnAlert(a)
	}
}

// Transaction returns transaction txid as recorded in the decision log.
func (c *Coordinator) Transaction(ctx context.Context, txid string) (driver.Tx, error) {
	if txid == "" {
		return driver.Tx{}, invalid("empty transaction id")
	}
	tx, err := c.log.GetTx(ctx, txid)
	if err != nil {
		return driver.Tx{}, opErr(ctx, "transaction", txid, err)
	}
	return tx, nil
}

// Recover makes one pass over the unfinished transactions older than
// RecoverAfter and finishes them: with a commit decision it re-drives
// Commit; without one it records abort (presumed abort; if a commit was
// recorded meanwhile, that wins and is driven instead) and re-drives
// Abort. It returns how many transactions it finished and the errors of
// the others, joined.
func (c *Coordinator) Recover(ctx context.Context) (int, error) {
	n := 0
	var errs []error
	f := driver.TxFilter{Unfinished: true, UpdatedBefore: c.clk.Now().Add(-c.opts.RecoverAfter), Limit: driver.DefaultLimit}
	for {
		txs, err := c.log.ListTx(ctx, f)
		if err != nil {
			return n, opErr(ctx, "list", "", err)
		}
		for _, tx := range txs {
			d := tx.Decision
			if d == driver.None {
				if d, err = c.log.Decide(ctx, tx.ID, driver.Abort); err != nil {
					errs = append(errs, opErr(ctx, "decide", tx.ID, err))
					continue
				}
			}
			if err := c.finish(ctx, tx.ID, tx.Participants, d); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
		if len(txs) < f.Limit {
			break
		}
		f.After = txs[len(txs)-1].ID
	}
	return n, errors.Join(errs...)
}

// RunRecovery calls Recover every period until ctx ends, and returns
// ctx.Err().
func (c *Coordinator) RunRecovery(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return invalid("RunRecovery period %v must be positive", every)
	}
	t := c.clk.NewTicker(every)
	defer t.Stop()
	for {
		_, _ = c.Recover(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		}
	}
}
