package saga

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/saga/driver"
)

type resumeMode int

const (
	modeRecover resumeMode = iota // carry on: forward if nothing failed, else compensate
	modeRetry                     // a stuck saga: compensate again with fresh attempts
	modeAbort                     // stop going forward and compensate
)

// resume takes ownership of saga id and drives it according to mode. It
// returns ErrBusy if another coordinator holds the saga's lease.
func (o *Orchestrator) resume(ctx context.Context, id string, mode resumeMode, reason string) error {
	lease, err := o.lk.TryAcquire(ctx, o.opts.LockPrefix+id, nil)
	if err != nil {
		if errors.Is(err, lock.ErrLocked) {
			return fmt.Errorf("%w: saga %q", ErrBusy, id)
		}
		return fmt.Errorf("saga: take over %q: %w", id, err)
	}
	defer o.release(lease)
	// Read after taking the lease: the previous owner may have moved on.
	rec, err := o.log.Get(ctx, id)
	if err != nil {
		return opErr(ctx, "resume", id, err)
	}
	if rec.State.Terminal() {
		if mode == modeRecover {
			return nil
		}
		return fmt.Errorf("%w: saga %q is %s", ErrTerminal, id, rec.State)
	}
	d, ok := o.def(rec.Name)
	if !ok {
		o.alert(Alert{Kind: AlertUnknownSaga, SagaID: id, Saga: rec.Name})
		return fmt.Errorf("%w: saga %q has definition %q", ErrUnknownSaga, id, rec.Name)
	}
	if len(rec.Steps) != len(d.steps) {
		return fmt.Errorf("%w: saga %q was recorded with %d steps, definition %q has %d", ErrInvalid, id, len(rec.Steps), d.name, len(d.steps))
	}
	act, comp, err := d.bind(rec.Data)
	if err != nil {
		return err
	}
	r := &runner{rec: rec, d: d}
	switch mode {
	case modeRecover:
		if rec.State == driver.Stuck {
			return nil // waits for an operator
		}
		r.countInterrupted()
	case modeRetry:
		if rec.State == driver.Running {
			r.countInterrupted()
			break
		}
		for i := range r.rec.Steps {
			r.rec.Steps[i].CompAttempts = 0
		}
		r.rec.State = driver.Compensating
	case modeAbort:
		for i := range r.rec.Steps {
			r.rec.Steps[i].CompAttempts = 0
		}
		r.rec.State = driver.Compensating
		r.rec.Error = "aborted: " + reason
	}
	// The takeover write fences off the previous owner at once.
	rec = r.rec
	rec.Fence = lease.Token()
	if err := o.log.Update(ctx, rec); err != nil {
		if errors.Is(err, driver.ErrFenced) {
			return fmt.Errorf("%w: saga %q: %w", ErrLeaseLost, id, err)
		}
		return opErr(ctx, "take over", id, err)
	}
	return o.drive(ctx, d, rec, act, comp, lease, "saga.Resume")
}

// countInterrupted counts the attempt that a crashed owner was making of
// each started step (or of the compensation in progress) as failed, so
// that a step that crashes its process cannot be retried forever. A step
// whose attempts are exhausted so counts as failed: the saga compensates
// (or, for a compensation, is stuck).
func (r *runner) countInterrupted() {
	switch r.rec.State {
	case driver.Running:
		for i := range r.rec.Steps {
			st := &r.rec.Steps[i]
			if st.Status != driver.StepStarted {
				continue
			}
			st.Attempts++
			if st.Attempts >= r.d.steps[i].retry.MaxAttempts && r.rec.State == driver.Running {
				st.Status, st.Error = driver.StepFailed, "interrupted"
				r.rec.State = driver.Compensating
				r.rec.Error = fmt.Sprintf("step %q interrupted %d time(s)", st.Name, st.Attempts)
			}
		}
	case driver.Compensating:
		for _, i := range r.toCompensate() {
			if r.d.steps[i].hasComp {
				st := &r.rec.Steps[i]
				st.CompAttempts++
				if st.CompAttempts >= r.d.steps[i].compRetry.MaxAttempts {
					r.rec.State = driver.Stuck
					r.rec.Error = fmt.Sprintf("compensation of step %q interrupted %d time(s)", st.Name, st.CompAttempts)
				}
				return
			}
		}
	}
}

// Recover makes one pass over the log and drives every running or
// compensating saga that no coordinator owns (its owner crashed, or its
// Run was cancelled) to a rest state: forward if no step failed,
// otherwise compensating in reverse order. Sagas owned by a live
// coordinator are skipped. It returns how many sagas it drove and the
// errors other than the normal outcomes (ErrCompensated, ErrStuck,
// ErrBusy), joined.
func (o *Orchestrator) Recover(ctx context.Context) (int, error) {
	var (
		mu    sync.Mutex
		n     int
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, o.opts.RecoveryConcurrency)
		after string
	)
	for {
		recs, err := o.log.List(ctx, driver.Filter{States: []driver.State{driver.Running, driver.Compensating}, After: after, Limit: driver.DefaultLimit})
		if err != nil {
			wg.Wait()
			return n, opErr(ctx, "list", "", err)
		}
		for _, rec := range recs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return n, ctx.Err()
			}
			wg.Add(1)
			go func(id string) {
				defer func() { <-sem; wg.Done() }()
				err := o.resume(ctx, id, modeRecover, "")
				mu.Lock()
				defer mu.Unlock()
				if errors.Is(err, ErrBusy) {
					return
				}
				n++
				if err != nil && !errors.Is(err, ErrCompensated) && !errors.Is(err, ErrStuck) {
					errs = append(errs, err)
				}
			}(rec.ID)
		}
		if len(recs) < driver.DefaultLimit {
			break
		}
		after = recs[len(recs)-1].ID
	}
	wg.Wait()
	return n, errors.Join(errs...)
}

// RunRecovery calls Recover every period until ctx ends, and returns
// ctx.Err(). Errors of single passes go to Options.OnAlert only as the
// alerts Recover raises; the loop goes on.
func (o *Orchestrator) RunRecovery(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return invalid("RunRecovery period %v must be positive", every)
	}
	t := o.clk.NewTicker(every)
	defer t.Stop()
	for {
		_, _ = o.Recover(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		}
	}
}

// ListStuck returns the sagas that need attention: those marked stuck,
// and those still running or compensating whose last log write is older
// than olderThan (their owner may be wedged, or no instance runs
// recovery). Times are the log's (the database clock for pgsaga).
func (o *Orchestrator) ListStuck(ctx context.Context, olderThan time.Duration) ([]Status, error) {
	if olderThan < 0 {
		return nil, invalid("negative olderThan %v", olderThan)
	}
	var out []Status
	for _, f := range []driver.Filter{
		{States: []driver.State{driver.Stuck}},
		{States: []driver.State{driver.Running, driver.Compensating}, UpdatedBefore: o.clk.Now().Add(-olderThan)},
	} {
		for {
			f.Limit = driver.DefaultLimit
			recs, err := o.log.List(ctx, f)
			if err != nil {
				return nil, opErr(ctx, "list", "", err)
			}
			out = append(out, recs...)
			if len(recs) < f.Limit {
				break
			}
			f.After = recs[len(recs)-1].ID
		}
	}
	return out, nil
}

// Retry drives the saga id again: a stuck saga compensates again with a
// fresh attempt budget; a running or compensating one nobody owns is
// resumed as Recover would. It returns ErrBusy if another coordinator
// owns it, ErrTerminal if it has finished, and the outcome as Run does.
func (o *Orchestrator) Retry(ctx context.Context, id string) error {
	if id == "" {
		return invalid("empty saga id")
	}
	return o.resume(ctx, id, modeRetry, "")
}

// Abort stops the saga id from going forward and compensates every step
// that was started, recording reason. It returns ErrBusy if another
// coordinator owns the saga right now (try again, or abort from that
// instance), ErrTerminal if it has finished, and otherwise the outcome
// of the compensation (an error wrapping ErrCompensated on success).
func (o *Orchestrator) Abort(ctx context.Context, id, reason string) error {
	if id == "" {
		return invalid("empty saga id")
	}
	return o.resume(ctx, id, modeAbort, reason)
}
