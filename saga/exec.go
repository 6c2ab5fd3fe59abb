package saga

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scalekit-go/scalekit/clock"
	"github.com/scalekit-go/scalekit/internal/backoff"
	"github.com/scalekit-go/scalekit/internal/otelx"
	"github.com/scalekit-go/scalekit/lock"
	"github.com/scalekit-go/scalekit/saga/driver"
)

// runner drives one saga while its orchestrator holds the saga's lease.
// Only its own goroutine touches rec; step goroutines report through a
// channel, so log writes are serialized.
type runner struct {
	o     *Orchestrator
	d     *def
	rec   driver.Record
	act   []callFn
	comp  []callFn
	lease *lock.Lease
	cause error // the failed step's error, in process
}

var (
	stateAttr = map[driver.State]metric.MeasurementOption{}
	opAction  = metric.WithAttributes(attribute.String("scalekit.saga.op", "action"))
	opComp    = metric.WithAttributes(attribute.String("scalekit.saga.op", "compensate"))
)

func init() {
	for _, s := range []driver.State{driver.Completed, driver.Compensated, driver.Stuck} {
		stateAttr[s] = metric.WithAttributes(attribute.String("scalekit.saga.state", string(s)))
	}
}

// drive runs the saga in rec (already recorded with lease's token) to a
// rest state, or until ctx ends or the lease is lost.
func (o *Orchestrator) drive(ctx context.Context, d *def, rec driver.Record, act, comp []callFn, lease *lock.Lease, op string) error {
	ctx, span := otelx.Start(ctx, o.tracer, op, attribute.String("scalekit.name", o.opts.Name),
		attribute.String("scalekit.saga.name", d.name), attribute.String("scalekit.saga.id", rec.ID))
	start := o.clk.Now()
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-lease.Done():
			cancel(ErrLeaseLost)
		case <-lctx.Done():
		}
	}()
	r := &runner{o: o, d: d, rec: rec, act: act, comp: comp, lease: lease}
	err := r.run(lctx)
	if errors.Is(err, ErrLeaseLost) {
		o.alert(Alert{Kind: AlertLeaseLost, SagaID: rec.ID, Saga: d.name, Err: err})
	}
	if a, ok := stateAttr[r.rec.State]; ok && (err == nil || errors.Is(err, ErrCompensated) || errors.Is(err, ErrStuck)) {
		o.finished.Add(context.Background(), 1, metric.WithAttributeSet(o.attrs), a)
		o.duration.Record(context.Background(), o.clk.Since(start).Seconds(), metric.WithAttributeSet(o.attrs))
	}
	span.SetAttributes(attribute.String("scalekit.saga.state", string(r.rec.State)))
	if errors.Is(err, ErrCompensated) {
		otelx.End(span, nil)
	} else {
		otelx.End(span, err)
	}
	return err
}

func (r *runner) run(ctx context.Context) error {
	if r.rec.State == driver.Running {
		if err := r.forward(ctx); err != nil {
			return err
		}
	}
	if r.rec.State == driver.Compensating {
		if err := r.compensate(ctx); err != nil {
			return err
		}
	}
	switch r.rec.State {
	case driver.Completed:
		return nil
	case driver.Compensated:
		if r.cause != nil {
			return fmt.Errorf("%w: saga %q: %w", ErrCompensated, r.rec.ID, r.cause)
		}
		return fmt.Errorf("%w: saga %q: %s", ErrCompensated, r.rec.ID, r.rec.Error)
	case driver.Stuck:
		return fmt.Errorf("%w: saga %q: %s", ErrStuck, r.rec.ID, r.rec.Error)
	}
	return fmt.Errorf("saga %q: unexpected state %q", r.rec.ID, r.rec.State)
}

// write records rec with the lease's fencing token, retrying transient
// log errors a few times. A fenced write or a lost lease is ErrLeaseLost.
func (r *runner) write(ctx context.Context) error {
	if err := r.lease.Err(); err != nil {
		return fmt.Errorf("%w: saga %q: %w", ErrLeaseLost, r.rec.ID, err)
	}
	r.rec.Fence = r.lease.Token()
	err := backoff.Retry(ctx, backoff.Policy{Initial: 20 * time.Millisecond, Max: time.Second, MaxAttempts: 5}, r.o.clk,
		func(ctx context.Context) error {
			err := r.o.log.Update(ctx, r.rec)
			if errors.Is(err, driver.ErrFenced) || errors.Is(err, driver.ErrNotFound) {
				return backoff.Permanent(err)
			}
			return err
		})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, driver.ErrFenced):
		return fmt.Errorf("%w: saga %q: %w", ErrLeaseLost, r.rec.ID, err)
	case ctx.Err() != nil:
		return r.stopErr(ctx)
	}
	return opErr(ctx, "log write", r.rec.ID, err)
}

// stopErr is the error of a drive whose context ended.
func (r *runner) stopErr(ctx context.Context) error {
	if c := context.Cause(ctx); errors.Is(c, ErrLeaseLost) {
		return fmt.Errorf("%w: saga %q: %w", ErrLeaseLost, r.rec.ID, r.lease.Err())
	}
	return ctx.Err()
}

// result is a step goroutine's report: a failed attempt that will be
// retried (retry), or the step's outcome.
type result struct {
	i       int
	err     error
	attempt int
	retry   bool
}

// ready marks the pending steps whose dependencies are all done as
// started and returns them.
func (r *runner) ready() []int {
	var out []int
	for i, sp := range r.d.steps {
		if r.rec.Steps[i].Status != driver.StepPending {
			continue
		}
		ok := true
		for _, dep := range sp.deps {
			if r.rec.Steps[dep].Status != driver.StepDone {
				ok = false
				break
			}
		}
		if ok {
			r.rec.Steps[i].Status = driver.StepStarted
			out = append(out, i)
		}
	}
	return out
}

func (r *runner) allDone() bool {
	for _, s := range r.rec.Steps {
		if s.Status != driver.StepDone {
			return false
		}
	}
	return true
}

// forward runs started and ready steps until all are done or one fails.
// Writes: one per completed step (which also marks the steps it unblocks
// as started, and the saga completed after the last one), one per failed
// attempt that will be retried, one for the failure that starts
// compensation.
func (r *runner) forward(ctx context.Context) error {
	if len(r.ready()) > 0 || r.allDone() {
		if r.allDone() {
			r.rec.State = driver.Completed
		}
		if err := r.write(ctx); err != nil {
			return err
		}
		if r.rec.State == driver.Completed {
			return nil
		}
	}
	sctx, cancelSteps := context.WithCancel(ctx)
	defer cancelSteps()
	// Room for one retry report and one outcome per step, so that step
	// goroutines never block once this loop has returned.
	results := make(chan result, 2*len(r.d.steps))
	inflight := 0
	launch := func(i int) {
		inflight++
		go r.runAction(sctx, i, r.rec.Steps[i].Attempts, results)
	}
	for i, s := range r.rec.Steps {
		if s.Status == driver.StepStarted {
			launch(i)
		}
	}
	failed := false
	for inflight > 0 {
		var res result
		select {
		case res = <-results:
		case <-ctx.Done():
			return r.stopErr(ctx)
		}
		st := &r.rec.Steps[res.i]
		name := r.d.steps[res.i].name
		switch {
		case failed:
			if !res.retry {
				inflight--
			}
		case res.retry:
			st.Attempts, st.Error = res.attempt, res.err.Error()
			if err := r.write(ctx); err != nil {
				return err
			}
		case res.err == nil:
			inflight--
			st.Status, st.Error = driver.StepDone, ""
			next := r.ready()
			if r.allDone() {
				r.rec.State = driver.Completed
			}
			if err := r.write(ctx); err != nil {
				return err
			}
			for _, i := range next {
				launch(i)
			}
		default:
			inflight--
			if ctx.Err() != nil {
				return r.stopErr(ctx)
			}
			st.Status, st.Attempts, st.Error = driver.StepFailed, res.attempt, res.err.Error()
			r.rec.State = driver.Compensating
			r.rec.Error = fmt.Sprintf("step %q failed after %d attempt(s): %v", name, res.attempt, res.err)
			r.cause = fmt.Errorf("step %q: %w", name, res.err)
			if err := r.write(ctx); err != nil {
				return err
			}
			failed = true
			cancelSteps()
		}
	}
	return nil
}

// runAction calls step i's action until it succeeds, fails permanently,
// exhausts its attempts (prior counts the attempts already recorded) or
// ctx ends, reporting each failed attempt and the outcome to out.
func (r *runner) runAction(ctx context.Context, i, prior int, out chan<- result) {
	sp := r.d.steps[i]
	// The outcome is always delivered (the loop counts outcomes); retry
	// reports are dropped once the saga stops.
	send := func(res result) bool {
		if !res.retry {
			out <- res
			return true
		}
		select {
		case out <- res:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for attempt := prior + 1; ; attempt++ {
		err := r.call(ctx, "saga.Step", i, r.act[i], attempt)
		if err == nil {
			send(result{i: i, attempt: attempt})
			return
		}
		r.o.failures.Add(context.Background(), 1, metric.WithAttributeSet(r.o.attrs), opAction)
		if IsPermanent(err) || attempt >= sp.retry.MaxAttempts || ctx.Err() != nil {
			send(result{i: i, err: err, attempt: attempt})
			return
		}
		if !send(result{i: i, err: err, attempt: attempt, retry: true}) {
			send(result{i: i, err: ctx.Err(), attempt: attempt})
			return
		}
		p := backoff.Policy{Initial: sp.retry.Initial, Max: sp.retry.Max}
		if clock.Sleep(ctx, r.o.clk, p.Delay(attempt-prior-1)) != nil {
			send(result{i: i, err: ctx.Err(), attempt: attempt})
			return
		}
	}
}

// call runs fn once under step i's timeout, in a span. A call that
// outlives its timeout is abandoned (it may still be applied, which the
// saga assumes anyway) and returns ErrStepTimeout; a panic becomes a
// permanent error.
func (r *runner) call(ctx context.Context, span string, i int, fn callFn, attempt int) error {
	sp := r.d.steps[i]
	ctx, s := otelx.Start(ctx, r.o.tracer, span, attribute.String("scalekit.name", r.o.opts.Name),
		attribute.String("scalekit.saga.step", sp.name), attribute.Int("scalekit.saga.attempt", attempt))
	err := callTimeout(ctx, sp.timeout, fn, Call{SagaID: r.rec.ID, Step: sp.name, Attempt: attempt})
	otelx.End(s, err)
	return err
}

func callTimeout(ctx context.Context, d time.Duration, fn callFn, c Call) error {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- Permanent(fmt.Errorf("saga: step %q panicked: %v", c.Step, p))
			}
		}()
		done <- fn(cctx, c)
	}()
	select {
	case err := <-done:
		if err != nil && ctx.Err() == nil && cctx.Err() != nil && errors.Is(err, cctx.Err()) {
			return fmt.Errorf("%w after %v: step %q", ErrStepTimeout, d, c.Step)
		}
		return err
	case <-cctx.Done():
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w after %v: step %q", ErrStepTimeout, d, c.Step)
	}
}

// toCompensate returns the steps to compensate, in reverse topological
// order: every step that was started, done or failed.
func (r *runner) toCompensate() []int {
	var out []int
	for k := len(r.d.order) - 1; k >= 0; k-- {
		i := r.d.order[k]
		switch r.rec.Steps[i].Status {
		case driver.StepStarted, driver.StepDone, driver.StepFailed:
			out = append(out, i)
		}
	}
	return out
}

// compensate undoes every started step in reverse order, one at a time.
// Writes: one per compensated step that has a compensation (the last one
// also records the saga compensated), one per failed attempt.
func (r *runner) compensate(ctx context.Context) error {
	todo := r.toCompensate()
	last := -1
	for _, i := range todo {
		if r.comp[i] != nil {
			last = i
		}
	}
	for _, i := range todo {
		st := &r.rec.Steps[i]
		if r.comp[i] == nil {
			st.Status = driver.StepCompensated
			continue
		}
		if err := r.compensateStep(ctx, i); err != nil || r.rec.State == driver.Stuck {
			return err
		}
		st.Status, st.Error = driver.StepCompensated, ""
		if i == last {
			r.rec.State = driver.Compensated
		}
		if err := r.write(ctx); err != nil {
			return err
		}
	}
	if r.rec.State != driver.Compensated {
		r.rec.State = driver.Compensated
		return r.write(ctx)
	}
	return nil
}

// compensateStep calls step i's compensation until it succeeds; after
// its attempts are exhausted (or a permanent error) the saga is stuck.
func (r *runner) compensateStep(ctx context.Context, i int) error {
	sp := r.d.steps[i]
	st := &r.rec.Steps[i]
	prior := st.CompAttempts
	for {
		attempt := st.CompAttempts + 1
		err := r.call(ctx, "saga.Compensate", i, r.comp[i], attempt)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return r.stopErr(ctx)
		}
		r.o.failures.Add(context.Background(), 1, metric.WithAttributeSet(r.o.attrs), opComp)
		st.CompAttempts, st.Error = attempt, err.Error()
		r.o.alert(Alert{Kind: AlertCompensationFailed, SagaID: r.rec.ID, Saga: r.d.name, Step: sp.name,
			Attempt: attempt, MaxAttempts: sp.compRetry.MaxAttempts, Err: err})
		if IsPermanent(err) || attempt >= sp.compRetry.MaxAttempts {
			r.rec.State = driver.Stuck
			r.rec.Error = fmt.Sprintf("compensation of step %q failed %d time(s): %v", sp.name, attempt, err)
			if werr := r.write(ctx); werr != nil {
				return werr
			}
			r.o.alert(Alert{Kind: AlertStuck, SagaID: r.rec.ID, Saga: r.d.name, Step: sp.name,
				Attempt: attempt, MaxAttempts: sp.compRetry.MaxAttempts, Err: err})
			return nil
		}
		if err := r.write(ctx); err != nil {
			return err
		}
		p := backoff.Policy{Initial: sp.compRetry.Initial, Max: sp.compRetry.Max}
		if clock.Sleep(ctx, r.o.clk, p.Delay(attempt-prior-1)) != nil {
			return r.stopErr(ctx)
		}
	}
}
